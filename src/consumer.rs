//! The consumer: polls records one at a time, tracks which ones the host acknowledged, and
//! commits only offsets below which every record was acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::BridgeContext;
use crate::config::Settings;
use crate::error::{BridgeError, Result};
use crate::message::ConsumedRecord;

/// The consumer defaults: offsets are stored and committed only by the bridge, for
/// acknowledged records; partitions are balanced incrementally (cooperative-sticky) so a
/// rebalance does not stop every member.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("partition.assignment.strategy", "cooperative-sticky"),
];

/// The consumer's rdkafka context.
pub struct ConsumerCtx {
    base: BridgeContext,
}

impl ClientContext for ConsumerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        self.base.log(level, fac, msg)
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.base.error(error, reason)
    }
}

impl ConsumerContext for ConsumerCtx {}

/// Per partition, the offsets handed out and not yet acknowledged in order, and the next
/// offset to commit.
#[derive(Debug, Default)]
struct PartitionAcks {
    /// Offsets handed to the host, in the order they were polled, with their ack flag.
    outstanding: VecDeque<(i64, bool)>,
    /// One past the last offset of the gap-free acknowledged prefix.
    committable: Option<i64>,
    /// The last offset committed successfully.
    committed: Option<i64>,
}

/// Tracks acknowledgements so that a commit never passes a record that was not processed.
#[derive(Debug, Default)]
pub struct AckTracker {
    parts: BTreeMap<(String, i32), PartitionAcks>,
}

impl AckTracker {
    /// Records that `offset` of a partition was handed to the host.
    pub fn track(&mut self, topic: &str, partition: i32, offset: i64) {
        let p = self.parts.entry((topic.to_owned(), partition)).or_default();
        p.outstanding.push_back((offset, false));
    }

    /// Marks a handed-out record processed; the committable offset advances over the
    /// gap-free acknowledged prefix only.
    pub fn ack(&mut self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        let p = self
            .parts
            .get_mut(&(topic.to_owned(), partition))
            .ok_or_else(|| BridgeError::no_record(format!("no record of {topic} [{partition}] is outstanding")))?;
        let slot = p
            .outstanding
            .iter_mut()
            .find(|(o, _)| *o == offset)
            .ok_or_else(|| BridgeError::no_record(format!("offset {offset} of {topic} [{partition}] is not outstanding")))?;
        slot.1 = true;
        while let Some(&(o, true)) = p.outstanding.front() {
            p.outstanding.pop_front();
            p.committable = Some(o + 1);
        }
        Ok(())
    }

    /// The offsets to commit: per partition, one past the acknowledged prefix, where that
    /// moved since the last successful commit.
    pub fn pending_commits(&self) -> Vec<(String, i32, i64)> {
        self.parts
            .iter()
            .filter_map(|((t, p), a)| match a.committable {
                Some(c) if a.committed != Some(c) => Some((t.clone(), *p, c)),
                _ => None,
            })
            .collect()
    }

    /// Notes a successful commit.
    pub fn committed(&mut self, commits: &[(String, i32, i64)]) {
        for (t, p, o) in commits {
            if let Some(a) = self.parts.get_mut(&(t.clone(), *p)) {
                a.committed = Some(*o);
            }
        }
    }
}

struct ConsumerState {
    current: Option<ConsumedRecord>,
    acks: AckTracker,
}

/// A consumer handle's state.
pub struct Consumer {
    inner: BaseConsumer<ConsumerCtx>,
    state: Mutex<ConsumerState>,
}

impl Consumer {
    /// Creates a consumer (the bridge defaults overridden by `settings`) subscribed to
    /// `topics`, a comma-separated list.
    pub fn new(settings: &Settings, topics: &str) -> Result<Self> {
        let mut all = Settings::with_defaults(CONSUMER_DEFAULTS);
        all.merge(settings);
        if all.get("group.id").map_or(true, str::is_empty) {
            return Err(BridgeError::config("a consumer needs a group id (group.id)"));
        }
        let (cfg, redactor) = all.to_client_config();
        let ctx = ConsumerCtx { base: BridgeContext::new(redactor.clone()) };
        let inner: BaseConsumer<ConsumerCtx> =
            crate::boundary::sys::with_signals_blocked(|| BaseConsumer::from_config_and_context(&cfg, ctx))
                .map_err(|e| BridgeError::from_kafka(&e, "creating the consumer").redacted(&redactor))?;
        let list: Vec<&str> = topics.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        if list.is_empty() {
            return Err(BridgeError::bad_argument("no topic to subscribe to"));
        }
        inner
            .subscribe(&list)
            .map_err(|e| BridgeError::from_kafka(&e, "subscribe").redacted(&redactor))?;
        Ok(Consumer { inner, state: Mutex::new(ConsumerState { current: None, acks: AckTracker::default() }) })
    }

    /// The context (logs, last error, redactor).
    pub fn context(&self) -> &BridgeContext {
        self.inner.context().base_ref()
    }

    /// Polls for one record within `timeout`; it becomes the current record and is tracked
    /// as outstanding until acknowledged. `f` gets `None` when nothing arrived in time.
    /// Transient client errors (a broker connection lost, a coordinator moving) are logged
    /// and polling goes on: librdkafka recovers from them by itself. Others are returned.
    pub fn poll<T>(&self, timeout: Duration, f: impl FnOnce(Option<&ConsumedRecord>) -> T) -> Result<T> {
        let mut st = self.state.lock();
        st.current = None;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.inner.poll(left) {
                None => return Ok(f(None)),
                Some(Err(e)) => {
                    let err = BridgeError::from_kafka(&e, "poll").redacted(&self.context().redactor);
                    if !err.retriable || err.fatal {
                        return Err(err);
                    }
                    self.context().note_error(err);
                    if left.is_zero() {
                        return Ok(f(None));
                    }
                }
                Some(Ok(m)) => {
                    let rec = ConsumedRecord::from_message(&m);
                    st.acks.track(&rec.topic, rec.partition, rec.offset);
                    let st = &mut *st;
                    return Ok(f(Some(st.current.insert(rec))));
                }
            }
        }
    }

    /// Runs `f` on the current (last polled) record.
    pub fn with_current<T>(&self, f: impl FnOnce(&ConsumedRecord) -> Result<T>) -> Result<T> {
        let st = self.state.lock();
        let rec = st.current.as_ref().ok_or_else(|| BridgeError::no_record("no current record: poll first"))?;
        f(rec)
    }

    /// Acknowledges a record as processed.
    pub fn ack(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        self.state.lock().acks.ack(topic, partition, offset)
    }

    /// Commits, synchronously, every acknowledged prefix not yet committed. Returns how many
    /// partitions' offsets were committed.
    pub fn commit(&self) -> Result<usize> {
        let mut st = self.state.lock();
        let pending = st.acks.pending_commits();
        if pending.is_empty() {
            return Ok(0);
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in &pending {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(|e| BridgeError::from_kafka(&e, "commit"))?;
        }
        self.inner
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| BridgeError::from_kafka(&e, "commit").redacted(&self.context().redactor))?;
        st.acks.committed(&pending);
        Ok(pending.len())
    }

    /// The committed offset of a partition as the group coordinator has it (`None`: none).
    pub fn committed_offset(&self, topic: &str, partition: i32, timeout: Duration) -> Result<Option<i64>> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let got = self
            .inner
            .committed_offsets(tpl, timeout)
            .map_err(|e| BridgeError::from_kafka(&e, "committed offsets"))?;
        Ok(got.find_partition(topic, partition).and_then(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }))
    }
}

impl ConsumerCtx {
    fn base_ref(&self) -> &BridgeContext {
        &self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_gap_free_prefix() {
        let mut t = AckTracker::default();
        for o in 10..15 {
            t.track("t", 0, o);
        }
        t.track("t", 1, 3);
        t.ack("t", 0, 11).unwrap();
        assert!(t.pending_commits().is_empty());
        t.ack("t", 0, 10).unwrap();
        assert_eq!(t.pending_commits(), vec![("t".into(), 0, 12)]);
        t.committed(&t.pending_commits());
        assert!(t.pending_commits().is_empty());
        t.ack("t", 1, 3).unwrap();
        t.ack("t", 0, 13).unwrap();
        assert_eq!(t.pending_commits(), vec![("t".into(), 1, 4)], "12 is not acked: 13 must wait");
        t.ack("t", 0, 12).unwrap();
        assert_eq!(t.pending_commits(), vec![("t".into(), 0, 14), ("t".into(), 1, 4)]);
        assert!(t.ack("t", 0, 99).is_err());
        assert!(t.ack("u", 0, 1).is_err());
    }
}
