//! The consumer: hands records to the host (in batches or one at a time) and, with
//! AtLeastOnce, commits an offset only when every record before it was processed.
//!
//! Records are taken from librdkafka up to 128 at a time
//! ([`crate::boundary::sys::ClosableConsumer::poll_record`]); those taken and not yet handed
//! out are dropped when their partition is rewound, sought or revoked (they come again from
//! the new position, or to the new owner). Without AtLeastOnce, a record's offset is stored
//! for the automatic commit as the record reaches the host, as librdkafka's automatic store
//! would when it hands a record out.
//!
//! AtLeastOnce, per partition:
//! * offsets advance only over the gap-free prefix of acknowledged records;
//! * a failed record (nack) rewinds the partition to it — later records of that partition
//!   already handed out are dropped from tracking and come again — and the partition pauses
//!   for an exponential backoff before the record is redelivered, in order, without a restart;
//!   other partitions keep flowing;
//! * with MaxAttempts, the last failure sends the record to the DeadLetterTopic (headers name
//!   its origin, attempts and error) and only then counts it processed;
//! * commits happen when the host asks (end of a batch), before partitions are revoked, and on
//!   close; a failed commit is retried and logged, and its offsets stay pending;
//! * acknowledgements for partitions no longer owned are discarded: the new owner redelivers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::{Offset, TopicPartitionList};

use crate::boundary::sys::{Fetched, Polled};
use crate::client::BridgeContext;
use crate::config::{ClientSpec, Settings};
use crate::error::{BridgeError, Result};
use crate::message::{ConsumedRecord, ProduceRecord, RecordView};
use crate::wire;
use crate::producer::Producer;

/// Defaults for every consumer:
/// * `partition.assignment.strategy=cooperative-sticky`: a member joining or leaving does not
///   stop the others;
/// * `session.timeout.ms=10000` (heartbeats every 3 s, from librdkafka's own thread, so a busy
///   IRIS job is not taken for dead — `max.poll.interval.ms` watches the job): a killed job's
///   partitions move to the others within 10 s, and a close while the broker is unreachable
///   (which waits for the session to expire) ends within the commit timeout plus 10 s;
/// * `enable.metrics.push=false`: no telemetry push to the broker at shutdown;
/// * `fetch.queue.backoff.ms=10` (librdkafka: 1000): once a partition's local queue holds
///   `queued.min.messages` records the fetcher waits this long before it looks again. A
///   Production draining a backlog faster than 100,000 records/s would otherwise empty the
///   queue and then sit idle for most of every second (measured: 73 % idle at 370,000
///   records/s); the look is a local check, 100 a second costs nothing measurable.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("partition.assignment.strategy", "cooperative-sticky"),
    ("session.timeout.ms", "10000"),
    ("heartbeat.interval.ms", "3000"),
    ("enable.metrics.push", "false"),
    ("fetch.queue.backoff.ms", "10"),
];

/// What AtLeastOnce forces: offsets are stored and committed only by the bridge.
const AT_LEAST_ONCE_FORCED: &[(&str, &str)] = &[("enable.auto.commit", "false"), ("enable.auto.offset.store", "false")];

/// What a consumer without AtLeastOnce uses (the built-in adapter's behaviour): librdkafka
/// stores each polled offset and commits periodically, whatever the targets do.
const AUTO_COMMIT: &[(&str, &str)] = &[("enable.auto.commit", "true"), ("enable.auto.offset.store", "true")];

/// The consumer's own options (host settings that are not librdkafka properties).
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Commit only processed records (default true).
    pub at_least_once: bool,
    /// Deliveries of a failing record before it goes to the dead-letter topic; 0 = forever.
    pub max_attempts: u32,
    /// Backoff before the first redelivery.
    pub retry_initial: Duration,
    /// Upper bound of the exponential backoff.
    pub retry_max: Duration,
    /// Where a record goes after its last attempt.
    pub dead_letter_topic: Option<String>,
    /// Assign mode: read exactly these partitions of each topic (no group balancing).
    pub partitions: Option<Vec<i32>>,
    /// How long commits (including the one on close) may take, retries included.
    pub commit_timeout: Duration,
    /// Hand record headers to the host (default true). A host whose message class has no
    /// place for them (`EnsLib.Kafka.Message`) turns this off: librdkafka then does not parse
    /// them (its parse allocates even for a record without headers: measured 20 % of the
    /// calling thread's time for 100-byte records). A dead letter keeps the original headers
    /// either way.
    pub headers: bool,
    /// `ConsumerCommit` sends the processed offsets at most once per this interval (0: on
    /// every call); what it holds back goes with a later call, a revocation or the close.
    pub commit_interval: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            at_least_once: true,
            max_attempts: 0,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(60),
            dead_letter_topic: None,
            partitions: None,
            commit_timeout: Duration::from_secs(10),
            headers: true,
            commit_interval: Duration::ZERO,
        }
    }
}

impl ConsumerOptions {
    /// Whether a handed-out record is kept (owned) until settled: its last failure may have
    /// to go to the dead-letter topic.
    fn keeps_records(&self) -> bool {
        self.at_least_once && self.dead_letter_topic.is_some()
    }

    /// Whether librdkafka is asked for a record's headers: the host wants them, or a dead
    /// letter may carry them on.
    fn reads_headers(&self) -> bool {
        self.headers || self.keeps_records()
    }

    /// Reads the bridge's own host settings.
    pub fn from_spec(spec: &ClientSpec) -> Result<Self> {
        let mut o = ConsumerOptions::default();
        if let Some(v) = spec.host("AtLeastOnce") {
            o.at_least_once = matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes");
        }
        if let Some(n) = spec.host_num::<u32>("MaxAttempts")? {
            o.max_attempts = n;
        }
        if let Some(n) = spec.host_num::<u64>("RetryInitialMs")? {
            o.retry_initial = Duration::from_millis(n.max(1));
        }
        if let Some(n) = spec.host_num::<u64>("RetryMaxMs")? {
            o.retry_max = Duration::from_millis(n.max(1));
        }
        o.retry_max = o.retry_max.max(o.retry_initial);
        if let Some(n) = spec.host_num::<u64>("CommitIntervalMs")? {
            o.commit_interval = Duration::from_millis(n);
        }
        if let Some(v) = spec.host("Headers") {
            o.headers = !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no");
        }
        o.dead_letter_topic = spec.host("DeadLetterTopic").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if let Some(list) = spec.host("Partition") {
            let mut parts = Vec::new();
            for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                parts.push(p.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    BridgeError::config(format!("setting Partition: \"{p}\" is not a partition number"))
                })?);
            }
            if !parts.is_empty() {
                o.partitions = Some(parts);
            }
        }
        Ok(o)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(30)).unwrap_or(u32::MAX);
        self.retry_initial.saturating_mul(factor).min(self.retry_max)
    }
}

/// One handed-out record of a partition.
#[derive(Debug)]
struct Pending {
    offset: i64,
    done: bool,
    /// Kept only when a dead-letter topic may need it.
    record: Option<Arc<ConsumedRecord>>,
}

/// Tracking of one owned partition.
#[derive(Debug, Default)]
struct PartitionState {
    outstanding: VecDeque<Pending>,
    /// One past the last offset of the gap-free processed prefix.
    committable: Option<i64>,
    /// The last offset committed by this member.
    committed: Option<i64>,
    /// An offset whose asynchronous commit is on its way.
    sending: Option<i64>,
    /// The failing record and how often it failed.
    failing: Option<(i64, u32)>,
    /// Paused for a redelivery backoff until then.
    paused_until: Option<Instant>,
}

impl PartitionState {
    /// Where `offset` is among the outstanding records (kept in increasing offset order:
    /// `track` drops entries at or above a redelivered offset).
    fn index_of(&self, offset: i64) -> Option<usize> {
        if self.outstanding.front().is_some_and(|x| x.offset == offset) {
            return Some(0); // acknowledgements mostly come in order
        }
        self.outstanding.binary_search_by_key(&offset, |x| x.offset).ok()
    }
}

/// What happened to a failed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackOutcome {
    /// The partition was rewound: the record comes again after the backoff.
    Redeliver = 1,
    /// The record went to the dead-letter topic and counts as processed.
    DeadLettered = 2,
    /// Attempts are exhausted and no dead-letter topic is set: logged and skipped.
    GivenUp = 3,
    /// The partition is no longer this member's: the new owner redelivers the record.
    Discarded = 4,
}

/// Per-partition acknowledgement state: commits never pass an unprocessed record.
#[derive(Debug, Default)]
pub struct AckTracker {
    /// Owned partitions, sorted by topic then partition. A lookup runs for every record and
    /// needs no allocation; it tries the last partition found first (a batch's records come
    /// in runs of one partition), then searches.
    parts: Vec<(String, i32, PartitionState)>,
    /// Where the last lookup found its partition.
    hint: std::cell::Cell<usize>,
    /// Processed offsets of partitions that went without their commit (the assignment was
    /// lost — the member was evicted — or the commit before revocation failed). They are
    /// committed if the partitions come back with the next assignment, so that nothing this
    /// member processed is delivered again.
    kept: Vec<(String, i32, i64)>,
}

type Tp = (String, i32);

impl AckTracker {
    /// The position of a partition in `parts`: `Ok` when owned, else where it would go.
    fn locate(&self, topic: &str, partition: i32) -> std::result::Result<usize, usize> {
        let h = self.hint.get();
        if let Some((t, p, _)) = self.parts.get(h) {
            if *p == partition && t == topic {
                return Ok(h);
            }
        }
        let found = self.parts.binary_search_by(|(t, p, _)| (t.as_str(), *p).cmp(&(topic, partition)));
        if let Ok(i) = found {
            self.hint.set(i);
        }
        found
    }

    fn part_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        let i = self.locate(topic, partition).ok()?;
        Some(&mut self.parts[i].2)
    }

    fn part_entry(&mut self, topic: &str, partition: i32) -> &mut PartitionState {
        let i = match self.locate(topic, partition) {
            Ok(i) => i,
            Err(i) => {
                self.parts.insert(i, (topic.to_owned(), partition, PartitionState::default()));
                i
            }
        };
        &mut self.parts[i].2
    }

    fn all(&self) -> impl Iterator<Item = (&String, i32, &PartitionState)> {
        self.parts.iter().map(|(t, p, a)| (t, *p, a))
    }

    fn part(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        let i = self.locate(topic, partition).ok()?;
        Some(&self.parts[i].2)
    }

    /// Whether `offset` of a partition is handed out and not settled yet.
    fn is_outstanding(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.part(topic, partition).is_some_and(|p| p.index_of(offset).is_some())
    }

    /// Whether this member tracks (owns) the partition.
    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.part(topic, partition).is_some()
    }

    /// Records that `offset` of a partition was handed to the host. An offset at or below one
    /// still outstanding (redelivery after a rewind or seek) replaces those entries.
    pub fn track(&mut self, topic: &str, partition: i32, offset: i64, record: Option<Arc<ConsumedRecord>>) {
        let p = self.part_entry(topic, partition);
        while p.outstanding.back().is_some_and(|b| b.offset >= offset) {
            p.outstanding.pop_back();
        }
        p.outstanding.push_back(Pending { offset, done: false, record });
    }

    /// The partition and the position of `offset` among its outstanding records.
    fn find(&mut self, topic: &str, partition: i32, offset: i64) -> Result<Option<(&mut PartitionState, usize)>> {
        let Some(p) = self.part_mut(topic, partition) else {
            return Ok(None); // not (or no longer) ours: discard
        };
        match p.index_of(offset) {
            Some(i) => Ok(Some((p, i))),
            None => Err(BridgeError::no_record(format!("offset {offset} of {topic} [{partition}] is not outstanding"))),
        }
    }

    /// Marks a handed-out record processed; `false` when its partition is not owned any more
    /// (the acknowledgement is discarded). The committable offset advances only over the
    /// gap-free processed prefix.
    pub fn ack(&mut self, topic: &str, partition: i32, offset: i64) -> Result<bool> {
        let Some((p, i)) = self.find(topic, partition, offset)? else { return Ok(false) };
        p.outstanding[i].done = true;
        if p.failing.is_some_and(|(o, _)| o == offset) {
            p.failing = None;
        }
        while p.outstanding.front().is_some_and(|x| x.done) {
            let x = p.outstanding.pop_front().expect("front exists");
            p.committable = Some(x.offset + 1);
        }
        Ok(true)
    }

    /// Counts a failure of a handed-out record: its attempt number and the record (when
    /// kept), or `None` when the partition is not owned any more.
    fn fail(&mut self, topic: &str, partition: i32, offset: i64) -> Result<Option<(u32, Option<Arc<ConsumedRecord>>)>> {
        let Some((p, i)) = self.find(topic, partition, offset)? else { return Ok(None) };
        let attempts = match p.failing {
            Some((o, n)) if o == offset => n + 1,
            _ => 1,
        };
        p.failing = Some((offset, attempts));
        let record = p.outstanding[i].record.clone();
        Ok(Some((attempts, record)))
    }

    /// Drops the record at `offset` and every later handed-out record of the partition from
    /// tracking (they will be polled again) and pauses it until `until`.
    fn rewind(&mut self, topic: &str, partition: i32, offset: i64, until: Instant) {
        if let Some(p) = self.part_mut(topic, partition) {
            p.outstanding.retain(|x| x.offset < offset);
            p.paused_until = Some(until);
        }
    }

    /// Partitions whose backoff is over (they are unpaused in the tracker).
    fn due(&mut self, now: Instant) -> Vec<Tp> {
        let mut out = Vec::new();
        for (t, partition, p) in self.parts.iter_mut() {
            if p.paused_until.is_some_and(|d| d <= now) {
                p.paused_until = None;
                out.push((t.clone(), *partition));
            }
        }
        out
    }

    fn next_due(&self) -> Option<Instant> {
        self.all().filter_map(|(_, _, p)| p.paused_until).min()
    }

    /// The offsets to commit (of `only` partitions when given): one past the processed prefix,
    /// where that moved since the last successful commit — and, unless `resend`, is not
    /// already on its way in an asynchronous commit.
    pub fn pending_commits(&self, only: Option<&[Tp]>, resend: bool) -> Vec<(String, i32, i64)> {
        self.all()
            .filter(|(t, p, _)| only.is_none_or(|o| o.iter().any(|(ot, op)| ot == *t && op == p)))
            .filter_map(|(t, p, a)| match a.committable {
                Some(c) if a.committed != Some(c) && (resend || a.sending != Some(c)) => Some((t.clone(), p, c)),
                _ => None,
            })
            .collect()
    }

    /// Notes commits sent asynchronously.
    pub fn sending(&mut self, commits: &[(String, i32, i64)]) {
        for (t, p, o) in commits {
            if let Some(a) = self.part_mut(t, *p) {
                a.sending = Some(*o);
            }
        }
    }

    /// Notes a failed asynchronous commit: its offsets are pending again.
    pub fn commit_failed(&mut self, commits: &[(String, i32, i64)]) {
        for (t, p, o) in commits {
            if let Some(a) = self.part_mut(t, *p) {
                if a.sending == Some(*o) {
                    a.sending = None;
                }
            }
        }
    }

    /// Notes a successful commit.
    pub fn committed(&mut self, commits: &[(String, i32, i64)]) {
        for (t, p, o) in commits {
            if let Some(a) = self.part_mut(t, *p) {
                if a.committed.is_none_or(|c| c < *o) {
                    a.committed = Some(*o);
                }
                if a.sending.is_some_and(|s| s <= *o) {
                    a.sending = None;
                }
            }
        }
    }

    /// Keeps the processed, uncommitted offsets of `tps` (partitions about to go without
    /// their commit) until the next assignment: [`Self::take_kept`].
    fn keep_uncommitted(&mut self, tps: &[Tp]) {
        for (t, p, o) in self.pending_commits(Some(tps), true) {
            self.kept.retain(|(kt, kp, _)| !(*kt == t && *kp == p));
            self.kept.push((t, p, o));
        }
    }

    /// The kept offsets of the partitions among `assigned`; every kept offset is dropped
    /// (a partition not assigned back is another member's now: it redelivers).
    fn take_kept(&mut self, assigned: &[Tp]) -> Vec<(String, i32, i64)> {
        let mut kept = std::mem::take(&mut self.kept);
        kept.retain(|(t, p, _)| assigned.iter().any(|(at, ap)| at == t && ap == p));
        kept
    }

    /// Whether offsets of partitions that went without their commit are kept.
    fn has_kept(&self) -> bool {
        !self.kept.is_empty()
    }

    /// Forgets partitions this member no longer owns.
    pub fn forget(&mut self, tps: &[Tp]) {
        for (t, p) in tps {
            if let Ok(i) = self.locate(t, *p) {
                self.parts.remove(i);
            }
        }
        self.hint.set(0);
    }

    /// Starts a partition afresh (after an explicit seek).
    fn reset(&mut self, topic: &str, partition: i32) {
        *self.part_entry(topic, partition) = PartitionState::default();
    }
}

/// The consumer's rdkafka context: logs, errors, and the acknowledgement state that the
/// rebalance callback commits before partitions go.
pub struct ConsumerCtx {
    base: BridgeContext,
    acks: Mutex<AckTracker>,
    at_least_once: bool,
    commit_timeout: Duration,
    /// Set once close has committed: revocations during close do not commit again.
    closing: std::sync::atomic::AtomicBool,
    /// Counts the rebalances served (revocations and assignments): a batch polled while it
    /// did not move needs no check for records of revoked partitions.
    rebalances: std::sync::atomic::AtomicU64,
    /// The partitions revoked or assigned by the rebalances served since a batch began (its
    /// records are tracked when the batch is complete: those of these partitions are not);
    /// cleared by every poll.
    touched: Mutex<Vec<Tp>>,
    /// Whether a partition may be paused for a redelivery backoff (set and cleared with the
    /// tracker locked): the polls that fill a batch look at the tracker only then.
    paused_any: std::sync::atomic::AtomicBool,
}

crate::client::delegate_client_context!(ConsumerCtx);

// The consumer's poll (`boundary::sys::ClosableConsumer::poll_record`) serves no OAuth token
// refresh event (librdkafka's background thread serves librdkafka's own refresh): a context
// that refreshed tokens itself would need it to.
const _: () = assert!(!<ConsumerCtx as rdkafka::client::ClientContext>::ENABLE_REFRESH_OAUTH_TOKEN);

impl ConsumerContext for ConsumerCtx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let tps: Vec<Tp> = match rebalance {
            Rebalance::Revoke(tpl) | Rebalance::Assign(tpl) => tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect(),
            Rebalance::Error(_) => Vec::new(),
        };
        self.touched.lock().extend(tps.iter().cloned());
        match rebalance {
            Rebalance::Revoke(_) => {
                let closing = self.closing.load(std::sync::atomic::Ordering::Acquire);
                // what was processed is committed, or kept when it cannot be (below)
                let commits = self.at_least_once && !closing;
                if commits {
                    if consumer.assignment_lost() {
                        // The member was evicted (its session timed out): a commit now
                        // would be refused for its old generation.
                        self.base.warn(&format!(
                            "assignment lost (the group evicted this member): {}; what was processed and not committed is committed if they come back, else their new owner delivers it again",
                            describe(&tps)
                        ));
                    } else if let Err(e) = commit_tracked(consumer, &self.acks, Some(&tps), self.commit_timeout) {
                        // Commit what was processed before the partitions go; what was not
                        // is redelivered to the new owner.
                        self.base.log_error(&format!("commit before revocation failed, the new owner redelivers: {e}"));
                    }
                }
                let mut acks = self.acks.lock();
                if commits {
                    acks.keep_uncommitted(&tps);
                }
                acks.forget(&tps);
                drop(acks);
                self.base.warn(&format!("partitions revoked: {}", describe(&tps)));
            }
            Rebalance::Assign(_) => {
                let kept = self.acks.lock().take_kept(&tps);
                if !kept.is_empty() {
                    // Before the fetch starts from the committed offsets.
                    self.commit_kept(consumer, &kept);
                }
                self.acks.lock().forget(&tps);
                self.base.warn(&format!("partitions assigned: {}", describe(&tps)));
            }
            Rebalance::Error(e) => self.base.log_error(&format!("rebalance error: {e}")),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // A partition paused for a redelivery backoff and revoked meanwhile keeps
            // librdkafka's pause flag; when it comes back its backoff state is gone, so it
            // must flow again (its failed record is redelivered from the committed offset).
            if tpl.count() > 0 {
                if let Err(e) = consumer.resume(tpl) {
                    self.base.log_error(&format!("resuming assigned partitions failed: {e}"));
                }
            }
        }
    }
}

impl ConsumerCtx {
    /// Commits the kept offsets of partitions assigned back to this member (after it lost
    /// them), where they are ahead of the group's committed offset: another member may have
    /// owned the partitions meanwhile and committed further, and that is never moved back.
    fn commit_kept(&self, consumer: &BaseConsumer<Self>, kept: &[(String, i32, i64)]) {
        let mut tpl = TopicPartitionList::new();
        for (t, p, _) in kept {
            tpl.add_partition(t, *p);
        }
        let ahead: Vec<(String, i32, i64)> = match consumer.committed_offsets(tpl, self.commit_timeout) {
            Ok(group) => kept
                .iter()
                .filter(|(t, p, o)| match group.find_partition(t, *p).map(|e| e.offset()) {
                    Some(Offset::Offset(c)) => c < *o,
                    _ => true,
                })
                .cloned()
                .collect(),
            Err(e) => {
                let e = BridgeError::from_kafka(&e, "committed offsets");
                self.base.log_error(&format!(
                    "partitions back after a lost assignment: their committed offsets could not be read, what was processed comes again: {e}"
                ));
                return;
            }
        };
        if ahead.is_empty() {
            return;
        }
        let list = ahead.iter().map(|(t, p, o)| format!("{t}[{p}]@{o}")).collect::<Vec<_>>().join(", ");
        match offsets_list(&ahead).and_then(|tpl| crate::boundary::sys::commit_within(consumer, &tpl, self.commit_timeout)) {
            Ok(()) => self.base.warn(&format!("partitions back after a lost assignment: committed what was processed: {list}")),
            Err(e) => self.base.log_error(&format!(
                "partitions back after a lost assignment: the commit of {list} failed, those records come again: {e}"
            )),
        }
    }
}

/// The partition list of offsets to commit.
fn offsets_list(offsets: &[(String, i32, i64)]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o)).map_err(|e| BridgeError::from_kafka(&e, "commit"))?;
    }
    Ok(tpl)
}

fn describe(tps: &[Tp]) -> String {
    tps.iter().map(|(t, p)| format!("{t}[{p}]")).collect::<Vec<_>>().join(", ")
}

/// Commits the tracked offsets (of `only` partitions when given), retrying retriable
/// failures until `timeout`. Returns how many partitions' offsets were committed.
fn commit_tracked(
    consumer: &BaseConsumer<ConsumerCtx>,
    acks: &Mutex<AckTracker>,
    only: Option<&[Tp]>,
    timeout: Duration,
) -> Result<usize> {
    let pending = acks.lock().pending_commits(only, true);
    if pending.is_empty() {
        return Ok(0);
    }
    let tpl = offsets_list(&pending)?;
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match crate::boundary::sys::commit_within(consumer, &tpl, left) {
            Ok(()) => {
                acks.lock().committed(&pending);
                return Ok(pending.len());
            }
            Err(err) => {
                if !err.retriable || Instant::now() + delay >= deadline {
                    return Err(err);
                }
                consumer.context().base.warn(&format!("commit failed, retrying: {err}"));
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Commit errors that only mean the group is rebalancing: the member must rejoin before its
/// commits are accepted again.
fn is_group_settling(e: &BridgeError) -> bool {
    matches!(e.name.as_str(), "ILLEGAL_GENERATION" | "UNKNOWN_MEMBER_ID" | "REBALANCE_IN_PROGRESS")
}

/// Kafka's longest topic name: a batch stops polling when a frame header with such a topic
/// could no longer fit the reply (a polled record always gets its frame).
const MAX_TOPIC_LEN: usize = 249;

/// The records of the last batch handed to the host, in order.
#[derive(Default)]
struct Handed {
    /// Topic, partition and offset per record; entries (and their topic strings) are reused
    /// from batch to batch, only the first `len` count.
    records: Vec<(String, i32, i64)>,
    len: usize,
    /// Scratch for a record's headers in the pairs layout.
    headers: Vec<u8>,
    /// Scratch: where each record's frame starts in the reply.
    starts: Vec<usize>,
    /// Scratch: the name of the topic of the last record framed.
    topic: String,
}

/// How a batch's outcomes were settled (counts of records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Acknowledged as processed.
    pub processed: u32,
    /// Failed; their partitions were rewound for a redelivery after the backoff.
    pub redelivered: u32,
    /// Failed for the last time and sent to the dead-letter topic.
    pub dead_lettered: u32,
    /// Failed for the last time with no dead-letter topic: logged and skipped.
    pub given_up: u32,
    /// Their partitions are no longer this member's (the new owner redelivers them), or
    /// they were settled already.
    pub discarded: u32,
    /// Not processed (outcome 3, or later records of a partition rewound in this batch):
    /// they come again, in order, without a backoff of their own.
    pub not_processed: u32,
}

/// Outcome letters of a batch settle, one per record of the previous batch.
pub mod outcome {
    /// Processed: every target answered without error.
    pub const PROCESSED: u8 = b'1';
    /// Failed: redelivered after a backoff, or dead-lettered after the last attempt.
    pub const FAILED: u8 = b'2';
    /// Not processed (not attempted): delivered again, in order.
    pub const NOT_PROCESSED: u8 = b'3';
}

/// How long a close may take to leave the group before the client is destroyed without it.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer handle's state.
pub struct Consumer {
    /// Asynchronous commits (declared before `inner`: it must go before its client).
    commits: Mutex<Option<crate::boundary::sys::CommitQueue>>,
    /// Offsets of each asynchronous commit still on its way, by id.
    in_flight: Mutex<std::collections::HashMap<usize, Vec<(String, i32, i64)>>>,
    next_commit_id: std::sync::atomic::AtomicUsize,
    /// When `commit` last sent offsets (for the commit interval).
    last_commit: Mutex<Option<Instant>>,
    inner: crate::boundary::sys::ClosableConsumer<ConsumerCtx>,
    options: ConsumerOptions,
    /// Whether each record's offset is stored as it reaches the host (without AtLeastOnce,
    /// unless the host's `enable.auto.offset.store` is false).
    stores_offsets: bool,
    /// The current record when it was copied out of librdkafka's buffer (a record polled
    /// alone, or kept for a dead letter); else a batch's cut record is kept in place by
    /// `inner` ([`crate::boundary::sys::ClosableConsumer::keep`]). At most one of them is set.
    current: Mutex<Option<Arc<ConsumedRecord>>>,
    /// The buffers of the last current record once nothing else uses it, for the next one.
    spare: Mutex<Option<ConsumedRecord>>,
    /// The records of the last batch (`poll_batch`), which the next batch call settles.
    handed: Mutex<Handed>,
    settings: Settings,
    dead_letters: Mutex<Option<Producer>>,
}

impl Consumer {
    /// Creates a consumer from the host's configuration, subscribed to `topics` (a comma
    /// list), or assigned the partitions of the `Partition` setting.
    pub fn new(spec: &ClientSpec, topics: &str) -> Result<Self> {
        let options = ConsumerOptions::from_spec(spec)?;
        let (mut all, mut warnings) = spec.librdkafka(CONSUMER_DEFAULTS)?;
        let forced = if options.at_least_once { AT_LEAST_ONCE_FORCED } else { AUTO_COMMIT };
        for (k, v) in forced {
            if options.at_least_once && all.get(k).is_some_and(|old| old != *v) {
                warnings.push(format!(
                    "{k}={} from {} is overridden with {v}: AtLeastOnce commits only processed records",
                    all.get(k).unwrap_or_default(),
                    all.source_of(k)
                ));
            }
            if !options.at_least_once && all.get(k).is_some() {
                continue; // without AtLeastOnce the host's own choice stands
            }
            all.set_from(k, v, if options.at_least_once { "AtLeastOnce" } else { "the bridge's defaults" });
        }
        if all.get("group.id").map_or(true, str::is_empty) {
            return Err(BridgeError::config("a consumer needs a group id (GroupID setting or group.id)"));
        }
        let (mut cfg, redactor) = all.to_client_config();
        // Records are taken from librdkafka ahead of the host (many per call): without
        // AtLeastOnce, a record's offset is stored as it reaches the host (`next_message`),
        // where librdkafka's automatic store would store it on leaving librdkafka.
        let stores_offsets = !options.at_least_once
            && all.get("enable.auto.offset.store").and_then(crate::config::parse_bool) != Some(false);
        if !options.at_least_once {
            cfg.set("enable.auto.offset.store", "false");
        }
        let ctx = ConsumerCtx {
            base: BridgeContext::new(redactor.clone()),
            acks: Mutex::new(AckTracker::default()),
            at_least_once: options.at_least_once,
            commit_timeout: options.commit_timeout,
            closing: std::sync::atomic::AtomicBool::new(false),
            rebalances: std::sync::atomic::AtomicU64::new(0),
            touched: Mutex::new(Vec::new()),
            paused_any: std::sync::atomic::AtomicBool::new(false),
        };
        for w in warnings {
            ctx.base.warn(&w);
        }
        let inner: BaseConsumer<ConsumerCtx> =
            crate::boundary::sys::with_signals_blocked(|| BaseConsumer::from_config_and_context(&cfg, ctx))
                .map_err(|e| all.explain(&e, "creating the consumer", &redactor))?;
        let inner = crate::boundary::sys::ClosableConsumer::new(inner);
        crate::boundary::sys::sasl_callbacks_in_background(inner.client()).map_err(|e| e.redacted(&redactor))?;
        let list: Vec<&str> = topics.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        if list.is_empty() {
            return Err(BridgeError::bad_argument("no topic to consume"));
        }
        match &options.partitions {
            None => inner.subscribe(&list).map_err(|e| BridgeError::from_kafka(&e, "subscribe").redacted(&redactor))?,
            Some(parts) => {
                let mut tpl = TopicPartitionList::new();
                for t in &list {
                    for p in parts {
                        // Offset::Stored: the group's committed offset, else auto.offset.reset.
                        tpl.add_partition_offset(t, *p, Offset::Stored).map_err(|e| BridgeError::from_kafka(&e, "assign"))?;
                    }
                }
                inner.assign(&tpl).map_err(|e| BridgeError::from_kafka(&e, "assign").redacted(&redactor))?;
            }
        }
        Ok(Consumer {
            commits: Mutex::new(Some(crate::boundary::sys::CommitQueue::new(&*inner))),
            in_flight: Mutex::new(Default::default()),
            next_commit_id: std::sync::atomic::AtomicUsize::new(1),
            last_commit: Mutex::new(None),
            inner,
            options,
            stores_offsets,
            current: Mutex::new(None),
            spare: Mutex::new(None),
            handed: Mutex::new(Handed::default()),
            settings: all,
            dead_letters: Mutex::new(None),
        })
    }

    /// The context (logs, last error, redactor).
    pub fn context(&self) -> &BridgeContext {
        &self.inner.context().base
    }

    /// The consumer's options.
    pub fn options(&self) -> &ConsumerOptions {
        &self.options
    }

    fn acks(&self) -> &Mutex<AckTracker> {
        &self.inner.context().acks
    }

    fn resume_due(&self) {
        let due = self.acks().lock().due(Instant::now());
        if due.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p) in &due {
            tpl.add_partition(t, *p);
        }
        if let Err(e) = self.inner.resume(&tpl) {
            self.context().log_error(&format!("resuming {} failed: {e}", describe(&due)));
        }
    }

    /// Polls librdkafka for the next message within `timeout`, resuming partitions whose
    /// redelivery backoff is over. Transient client errors are logged and polling goes on
    /// (librdkafka recovers from them by itself); others are returned.
    fn next_message(&self, timeout: Duration) -> Result<Option<Fetched<'_>>> {
        if timeout.is_zero() {
            // Only what is already fetched (the rest of a batch): one poll, no lock and no
            // clock read unless a partition may wait for its redelivery backoff.
            let ctx = self.inner.context();
            if ctx.paused_any.load(std::sync::atomic::Ordering::Acquire) {
                let acks = self.acks().lock();
                match acks.next_due() {
                    None => ctx.paused_any.store(false, std::sync::atomic::Ordering::Release),
                    Some(d) if d <= Instant::now() => {
                        drop(acks);
                        self.resume_due();
                    }
                    Some(_) => {}
                }
            }
            return match self.inner.poll_record(0) {
                Polled::Nothing | Polled::Served => Ok(None),
                Polled::Record(m) => Ok(Some(self.handing_out(m))),
                Polled::Failed(e) => self.transient(&e).map(|()| None),
            };
        }
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            let next_due = self.acks().lock().next_due();
            if next_due.is_some_and(|d| d <= now) {
                self.resume_due();
            }
            let mut slice = deadline.saturating_duration_since(now);
            if let Some(next) = next_due {
                slice = slice.min(next.saturating_duration_since(now));
            }
            // whole milliseconds, rounded up: a wait never ends just before the deadline
            let ms = slice.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            match self.inner.poll_record(ms) {
                Polled::Record(m) => return Ok(Some(self.handing_out(m))),
                Polled::Failed(e) => self.transient(&e)?,
                Polled::Nothing | Polled::Served => {}
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// A record on its way to the host (every record `next_message` returns is handed out):
    /// its offset is stored for the next automatic commit when the consumer stores offsets.
    fn handing_out<'a>(&self, m: Fetched<'a>) -> Fetched<'a> {
        if self.stores_offsets {
            // (refused only for a partition no longer assigned: its new owner has it)
            let _ = m.store_offset();
        }
        m
    }

    /// A client error from a poll: a transient one is noted (logged) and polling goes on;
    /// another is returned.
    fn transient(&self, e: &rdkafka::error::KafkaError) -> Result<()> {
        let err = BridgeError::from_kafka(e, "poll").redacted(&self.context().redactor);
        if !err.retriable || err.fatal {
            return Err(err);
        }
        self.context().note_error(err);
        Ok(())
    }

    /// Polls for one record within `timeout`; it becomes the current record (and, with
    /// AtLeastOnce, is outstanding until acknowledged). `f` gets `None` when nothing arrived
    /// in time.
    pub fn poll<T>(&self, timeout: Duration, f: impl FnOnce(Option<&ConsumedRecord>) -> T) -> Result<T> {
        self.release_current();
        // (tracked at once here: the partitions rebalances touched are not needed, and a host
        // that only polls records one at a time must not collect them for ever)
        self.inner.context().touched.lock().clear();
        let Some(m) = self.next_message(timeout)? else { return Ok(f(None)) };
        let mut headers = Vec::new();
        let view = RecordView::of_message(&m, &mut headers, self.options.reads_headers());
        let rec = Arc::new(view.to_owned_record_in(self.spare.lock().take()));
        if self.options.at_least_once {
            let keep = self.options.keeps_records().then(|| rec.clone());
            self.acks().lock().track(&rec.topic, rec.partition, rec.offset, keep);
        }
        let r = f(Some(&rec));
        *self.current.lock() = Some(rec);
        Ok(r)
    }

    /// Polls a batch: up to `max` records, appended to `out` as consecutive record frames
    /// within `capacity` bytes, straight from librdkafka's buffers. The first record may take
    /// `timeout`; later ones are only those already fetched, and only while the room left
    /// would hold a record as large as the last one. A record whose fields do not all fit
    /// ends the batch: it becomes the current record, its missing fields read with the
    /// ReadField entries. Every record is outstanding (AtLeastOnce) until the next
    /// [`Consumer::settle_batch`]. Returns how many records the batch holds.
    pub fn poll_batch(&self, max: usize, timeout: Duration, capacity: usize, out: &mut impl wire::FrameOut) -> Result<usize> {
        self.release_current();
        let mut handed = self.handed.lock();
        let Handed { records, len, headers, starts, topic: topic_name } = &mut *handed;
        *len = 0;
        starts.clear();
        let keep_all = self.options.keeps_records();
        let with_headers = self.options.reads_headers();
        let ctx = self.inner.context();
        let rebalances = &ctx.rebalances;
        let mut rebalanced_before = rebalances.load(std::sync::atomic::Ordering::Acquire);
        ctx.touched.lock().clear();
        // Records kept for a possible dead letter, by batch position (only with one).
        let mut copies: Vec<Option<Arc<ConsumedRecord>>> = Vec::new();
        let mut wait = timeout;
        let mut last_frame = 0;
        // A message of the last topic seen (its name is in `topic_name`), kept alive so that
        // its topic handle is too: a message with the same handle has the same topic, and
        // its name is not looked up (and checked as UTF-8) again.
        let mut topic_holder: Option<Fetched<'_>> = None;
        // Another record is polled only while the room left would hold one more like the
        // last: records of a topic are mostly alike in size, and one cut at the end of a
        // batch costs the host extra ReadField calls for what the next batch holds whole.
        while *len < max && capacity.saturating_sub(out.len()) >= (wire::FRAME_HEADER_MAX + MAX_TOPIC_LEN).max(last_frame) {
            let m = match self.next_message(wait) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                // Records already in the batch must reach the host (they are outstanding);
                // the error comes again with the next call.
                Err(e) if *len > 0 => {
                    self.context().note_error(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            wait = Duration::ZERO;
            if *len == 0 {
                // Rebalances served while waiting for the first record concern no record of
                // this batch.
                let now = rebalances.load(std::sync::atomic::Ordering::Acquire);
                if now != rebalanced_before {
                    rebalanced_before = now;
                    ctx.touched.lock().clear();
                }
            }
            let same_topic = topic_holder.as_ref().is_some_and(|h| h.topic_handle() == m.topic_handle());
            if !same_topic {
                topic_name.clear();
                topic_name.push_str(m.topic());
            }
            let view = RecordView::of_message_in(&m, topic_name, headers, with_headers);
            starts.push(out.len());
            // (the loop leaves room for any header and topic: the frame always fits)
            let whole = wire::encode_record_frame(&view, capacity - out.len(), out).is_some_and(|f| f.whole);
            last_frame = out.len() - starts[*len];
            // (a copy for a possible dead letter; else a record is only read in place)
            let owned = keep_all.then(|| Arc::new(view.to_owned_record_in(self.spare.lock().take())));
            if keep_all {
                copies.push(owned.clone());
            }
            match records.get_mut(*len) {
                Some(r) => {
                    r.0.clear();
                    r.0.push_str(view.topic);
                    (r.1, r.2) = (view.partition, view.offset);
                }
                None => records.push((view.topic.to_owned(), view.partition, view.offset)),
            }
            *len += 1;
            if !whole {
                // The current record, its missing fields read with the ReadField entries:
                // kept where it lies in librdkafka's buffer, not copied out first.
                match owned {
                    Some(rec) => *self.current.lock() = Some(rec),
                    None => self.inner.keep(m),
                }
                break;
            }
            if !same_topic {
                topic_holder = Some(m);
            }
        }
        if self.options.at_least_once && *len > 0 {
            // Tracked now, under one lock. A poll that serves a rebalance brings no record and
            // ends the batch, so a rebalance since the first record was served after every
            // record of the batch was polled: those of the partitions it revoked or assigned
            // are not tracked (as if tracked and then forgotten by it) and are taken out.
            let rebalanced = rebalances.load(std::sync::atomic::Ordering::Acquire) != rebalanced_before;
            let touched = if rebalanced { std::mem::take(&mut *ctx.touched.lock()) } else { Vec::new() };
            let mut acks = self.acks().lock();
            for (i, (t, p, o)) in records[..*len].iter().enumerate() {
                if !(rebalanced && touched.iter().any(|(tt, tp)| tt == t && tp == p)) {
                    acks.track(t, *p, *o, copies.get(i).cloned().flatten());
                }
            }
            drop(acks);
            if rebalanced {
                self.drop_revoked(records, len, starts, out);
            }
        }
        Ok(*len)
    }

    /// Takes out of a batch the records whose partition was revoked while the batch was being
    /// polled (a rebalance runs inside librdkafka's poll): they are no longer this member's,
    /// the new owner delivers them, and handing them to the host would only process them twice.
    fn drop_revoked(&self, records: &mut [(String, i32, i64)], len: &mut usize, starts: &[usize], out: &mut impl wire::FrameOut) {
        let keep: Vec<bool> = {
            let acks = self.acks().lock();
            records[..*len].iter().map(|(t, p, o)| acks.is_outstanding(t, *p, *o)).collect()
        };
        if keep.iter().all(|&k| k) {
            return;
        }
        // Kept frames move forward over the dropped ones, in order.
        let end_all = out.len();
        let bytes = out.written_mut();
        let mut to = starts[0];
        let mut k = 0;
        for i in 0..*len {
            if keep[i] {
                let end = starts.get(i + 1).copied().unwrap_or(end_all);
                bytes.copy_within(starts[i]..end, to);
                to += end - starts[i];
                records.swap(k, i);
                k += 1;
            }
        }
        if !keep[*len - 1] {
            // the batch's last record may be the current one (fields left out): gone too
            *self.current.lock() = None;
            self.inner.release_kept();
        }
        self.context().info(&format!(
            "{} record(s) of partitions revoked during the poll were not handed out (the new owner delivers them)",
            *len - k
        ));
        out.truncate(to);
        *len = k;
    }

    /// Settles the last batch: one outcome letter per record, in batch order ([`outcome`]):
    /// processed, failed (its error text in `errors`, by 0-based index) or not processed.
    /// After a failure or a not-processed record, the later records of that partition in the
    /// batch count as not processed whatever their letter (they come again, in order). Letters
    /// are checked before anything is settled: a wrong count or letter changes nothing. A
    /// failure while settling (a dead-letter send that failed) is logged and its record comes
    /// again (counted redelivered); the rest of the batch is settled all the same.
    pub fn settle_batch<S: AsRef<str>>(&self, outcomes: &[u8], errors: &[(usize, S)]) -> Result<Settled> {
        let mut handed = self.handed.lock();
        let n = handed.len;
        if outcomes.len() != n {
            return Err(BridgeError::bad_argument(format!(
                "{} outcomes for a batch of {n} records (one letter per record: 1 processed, 2 failed, 3 not processed)",
                outcomes.len()
            )));
        }
        if let Some(i) = outcomes.iter().position(|o| !(b'1'..=b'3').contains(o)) {
            return Err(BridgeError::bad_argument(format!(
                "outcome {:?} of record {i} is not 1 (processed), 2 (failed) or 3 (not processed)",
                outcomes[i] as char
            )));
        }
        let mut s = Settled::default();
        if outcomes.iter().all(|&o| o == outcome::PROCESSED) {
            // The common case, every record processed: one lock for the whole batch.
            let mut acks = self.acks().lock();
            for (topic, partition, offset) in &handed.records[..n] {
                self.ack_counted(&mut acks, topic, *partition, *offset, &mut s);
            }
            drop(acks);
            handed.len = 0;
            return Ok(s);
        }
        let mut stopped: Vec<(&str, i32)> = Vec::new();
        for (i, (topic, partition, offset)) in handed.records[..n].iter().enumerate() {
            let (topic, partition, offset) = (topic.as_str(), *partition, *offset);
            if stopped.contains(&(topic, partition)) {
                s.not_processed += 1;
                continue;
            }
            match outcomes[i] {
                outcome::PROCESSED => self.ack_counted(&mut self.acks().lock(), topic, partition, offset, &mut s),
                outcome::FAILED => {
                    let text = errors.iter().find(|(k, _)| *k == i).map_or("failed (no error text given)", |(_, t)| t.as_ref());
                    match self.nack(topic, partition, offset, text) {
                        Ok(NackOutcome::Redeliver) => {
                            s.redelivered += 1;
                            stopped.push((topic, partition));
                        }
                        Ok(NackOutcome::DeadLettered) => s.dead_lettered += 1,
                        Ok(NackOutcome::GivenUp) => s.given_up += 1,
                        Ok(NackOutcome::Discarded) => s.discarded += 1,
                        Err(e) => {
                            // (a dead-letter send that failed: logged, and the partition
                            // was rewound, so the record comes again)
                            self.context().log_error(&format!("{topic}[{partition}]@{offset}: {e}"));
                            s.redelivered += 1;
                            stopped.push((topic, partition));
                        }
                    }
                }
                _ => {
                    s.not_processed += 1;
                    if self.options.at_least_once && self.acks().lock().owns(topic, partition) {
                        stopped.push((topic, partition));
                        if let Err(e) = self.rewind(topic, partition, offset, Duration::ZERO) {
                            self.context().log_error(&format!("rewinding {topic}[{partition}] to {offset} failed: {e}"));
                        }
                    }
                }
            }
        }
        handed.len = 0;
        Ok(s)
    }

    /// Acknowledges one record of a settled batch and counts it: processed, or discarded when
    /// its partition is not tracked any more (moved to another member, or settled already).
    fn ack_counted(&self, acks: &mut AckTracker, topic: &str, partition: i32, offset: i64, s: &mut Settled) {
        match acks.ack(topic, partition, offset) {
            Ok(false) | Err(_) if self.options.at_least_once => s.discarded += 1,
            _ => s.processed += 1,
        }
    }

    /// Drops the current record; its buffers are kept for the next one when nothing else
    /// holds it (a record kept for a possible dead letter is) and they are not too large.
    fn release_current(&self) {
        const SPARE_MAX: usize = 4 << 20;
        self.inner.release_kept();
        let Some(cur) = self.current.lock().take() else { return };
        if let Ok(rec) = Arc::try_unwrap(cur) {
            let size = rec.value.as_ref().map_or(0, Vec::capacity) + rec.key.as_ref().map_or(0, Vec::capacity) + rec.headers_blob.capacity();
            if size <= SPARE_MAX {
                *self.spare.lock() = Some(rec);
            }
        }
    }

    /// Runs `f` on the current (last polled) record; `None` when there is none.
    fn current_view<T>(&self, f: impl FnOnce(&RecordView<'_>) -> T) -> Option<T> {
        if let Some(rec) = self.current.lock().clone() {
            return Some(f(&rec.view()));
        }
        let with_headers = self.options.reads_headers();
        self.inner.with_kept(|m| {
            let mut headers = Vec::new();
            f(&RecordView::of_message_in(m, m.topic(), &mut headers, with_headers))
        })
    }

    /// Runs `f` on the current (last polled) record.
    pub fn with_current<T>(&self, f: impl FnOnce(&RecordView<'_>) -> Result<T>) -> Result<T> {
        self.current_view(f).unwrap_or_else(|| Err(BridgeError::no_record("no current record: poll first")))
    }

    /// Acknowledges a record as processed. Without AtLeastOnce there is nothing to track.
    pub fn ack(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        if !self.options.at_least_once {
            return Ok(());
        }
        if !self.acks().lock().ack(topic, partition, offset)? {
            tracing::debug!("ack for {topic}[{partition}]@{offset} discarded: partition not owned");
        }
        Ok(())
    }

    /// Settles the current (last polled) record: `outcome` 1 processed (ack), 2 failed (nack
    /// with `error`), 0 nothing to settle. Returns the nack outcome when there was one.
    pub fn settle_current(&self, outcome: i32, error: &str) -> Result<Option<NackOutcome>> {
        if outcome == 0 {
            return Ok(None);
        }
        // (a record kept in librdkafka's buffer exists only without a dead-letter topic: its
        // nack never sends a dead letter while the buffer is held)
        self.current_view(|r| match outcome {
            1 => self.ack(r.topic, r.partition, r.offset).map(|_| None),
            2 => self.nack(r.topic, r.partition, r.offset, error).map(Some),
            _ => Err(BridgeError::bad_argument(format!("outcome {outcome} is not 0 (none), 1 (ok) or 2 (failed)"))),
        })
        .unwrap_or_else(|| Err(BridgeError::no_record("no current record to settle: poll first")))
    }

    /// Reports a record as failed: rewinds its partition for a redelivery after the backoff,
    /// or after the last attempt sends it to the dead-letter topic (see [`NackOutcome`]).
    pub fn nack(&self, topic: &str, partition: i32, offset: i64, error: &str) -> Result<NackOutcome> {
        if !self.options.at_least_once {
            return Ok(NackOutcome::GivenUp);
        }
        let Some((attempts, record)) = self.acks().lock().fail(topic, partition, offset)? else {
            return Ok(NackOutcome::Discarded);
        };
        if self.options.max_attempts > 0 && attempts >= self.options.max_attempts {
            match (&self.options.dead_letter_topic, record) {
                (Some(dlt), Some(rec)) => match self.dead_letter(dlt, &rec, attempts, error) {
                    Ok(()) => {
                        self.context().warn(&format!(
                            "{topic}[{partition}]@{offset} failed {attempts} times and was sent to {dlt}: {error}"
                        ));
                        self.acks().lock().ack(topic, partition, offset)?;
                        return Ok(NackOutcome::DeadLettered);
                    }
                    Err(e) => {
                        self.context().log_error(&format!("sending {topic}[{partition}]@{offset} to {dlt} failed: {e}"));
                        self.rewind(topic, partition, offset, self.options.backoff(attempts))?;
                        return Err(e);
                    }
                },
                _ => {
                    self.context().log_error(&format!(
                        "{topic}[{partition}]@{offset} failed {attempts} times and is skipped (no DeadLetterTopic): {error}"
                    ));
                    self.acks().lock().ack(topic, partition, offset)?;
                    return Ok(NackOutcome::GivenUp);
                }
            }
        }
        self.rewind(topic, partition, offset, self.options.backoff(attempts))?;
        Ok(NackOutcome::Redeliver)
    }

    /// Rewinds a partition to `offset` and pauses it for `wait` (the redelivery backoff).
    fn rewind(&self, topic: &str, partition: i32, offset: i64, wait: Duration) -> Result<()> {
        let mut acks = self.acks().lock();
        acks.rewind(topic, partition, offset, Instant::now() + wait);
        self.inner.context().paused_any.store(true, std::sync::atomic::Ordering::Release);
        drop(acks);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        self.inner.pause(&tpl).map_err(|e| BridgeError::from_kafka(&e, "pause"))?;
        self.inner
            .seek(topic, partition, Offset::Offset(offset), Duration::from_secs(10))
            .map_err(|e| BridgeError::from_kafka(&e, "rewind (seek)"))?;
        // records of the partition taken from librdkafka and not handed out come again too
        self.inner.drop_carried(topic, partition);
        Ok(())
    }

    fn dead_letter(&self, topic: &str, rec: &ConsumedRecord, attempts: u32, error: &str) -> Result<()> {
        let mut g = self.dead_letters.lock();
        if g.is_none() {
            *g = Some(Producer::from_settings(&producer_settings(&self.settings), Vec::new())?);
        }
        let producer = g.as_ref().expect("created above");
        let mut headers: Vec<(&str, Option<&[u8]>)> = ProduceRecord::parse_headers(&rec.headers_blob)?;
        let (p, o, a) = (rec.partition.to_string(), rec.offset.to_string(), attempts.to_string());
        headers.extend([
            ("x-original-topic", Some(rec.topic.as_bytes())),
            ("x-original-partition", Some(p.as_bytes())),
            ("x-original-offset", Some(o.as_bytes())),
            ("x-attempts", Some(a.as_bytes())),
            ("x-error", Some(error.as_bytes())),
        ]);
        producer.produce(&ProduceRecord {
            topic,
            partition: None,
            key: rec.key.as_deref(),
            value: rec.value.as_deref(),
            headers,
            timestamp: rec.timestamp,
        })?;
        Ok(())
    }

    /// Commits the processed offsets without waiting (the end of a batch): the commit goes
    /// out now and its outcome is collected by the next call. Returns how many partitions'
    /// offsets were sent. A commit that failed since the last call is logged, its offsets are
    /// sent again, and its error is returned so the host can log it too. With a commit
    /// interval, offsets are sent at most once per interval (a call within it sends nothing
    /// and returns 0; the offsets go with a later call). Revocations and close commit
    /// synchronously whatever the interval, so nothing acknowledged is left behind when
    /// partitions go.
    pub fn commit(&self) -> Result<usize> {
        if !self.options.at_least_once {
            return Ok(0);
        }
        let failure = self.collect_commits();
        let interval = self.options.commit_interval;
        let held_back = !interval.is_zero() && self.last_commit.lock().is_some_and(|t| t.elapsed() < interval);
        let pending = if held_back { Vec::new() } else { self.acks().lock().pending_commits(None, false) };
        if !pending.is_empty() {
            let tpl = offsets_list(&pending)?;
            let id = self.next_commit_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(q) = self.commits.lock().as_ref() {
                q.send(&self.inner, &tpl, id)?;
                *self.last_commit.lock() = Some(Instant::now());
                self.in_flight.lock().insert(id, pending.clone());
                self.acks().lock().sending(&pending);
            }
        }
        match failure {
            Some(e) => Err(e.redacted(&self.context().redactor)),
            None => Ok(pending.len()),
        }
    }

    /// Collects the outcomes of asynchronous commits; returns the last failure.
    fn collect_commits(&self) -> Option<BridgeError> {
        let outcomes = match self.commits.lock().as_ref() {
            Some(q) => q.drain(),
            None => return None,
        };
        let mut failure = None;
        for (id, r) in outcomes {
            let list = self.in_flight.lock().remove(&id).unwrap_or_default();
            match r {
                Ok(()) => self.acks().lock().committed(&list),
                Err(e) if is_group_settling(&e) => {
                    // A rebalance is under way: the offsets are sent again with the next
                    // commit (or committed before revocation); nothing for the host to report.
                    self.acks().lock().commit_failed(&list);
                    self.context().info(&format!("commit deferred while the group rebalances: {e}"));
                }
                Err(e) => {
                    self.acks().lock().commit_failed(&list);
                    self.context().warn(&format!("commit failed, the offsets stay pending and are sent again: {e}"));
                    failure = Some(e);
                }
            }
        }
        failure
    }

    /// Moves a partition's position: `mode` 0 to `value` as an offset, 1 to the first record
    /// at or after `value` ms since the epoch, 2 to the beginning, 3 to the end. Returns the
    /// offset it moved to (-2 beginning, -1 end). The partition must be assigned.
    pub fn seek(&self, topic: &str, partition: i32, mode: i32, value: i64) -> Result<i64> {
        let timeout = Duration::from_secs(10);
        let offset = match mode {
            0 if value >= 0 => Offset::Offset(value),
            1 => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition, Offset::Offset(value))
                    .map_err(|e| BridgeError::from_kafka(&e, "seek"))?;
                let got = self.inner.offsets_for_times(tpl, timeout).map_err(|e| BridgeError::from_kafka(&e, "offsets for time"))?;
                got.find_partition(topic, partition).map(|e| e.offset()).unwrap_or(Offset::End)
            }
            2 => Offset::Beginning,
            3 => Offset::End,
            _ => return Err(BridgeError::bad_argument(format!("seek mode {mode} with value {value} is invalid"))),
        };
        let offset = match offset {
            Offset::Offset(o) => Offset::Offset(o),
            Offset::Beginning => Offset::Beginning,
            _ => Offset::End,
        };
        self.inner.seek(topic, partition, offset, timeout).map_err(|e| {
            let mut err = BridgeError::from_kafka(&e, "seek");
            err.message.push_str(" (a partition can be sought once it is assigned: poll first in subscribe mode)");
            err
        })?;
        self.inner.drop_carried(topic, partition);
        self.acks().lock().reset(topic, partition);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let _ = self.inner.resume(&tpl);
        Ok(match offset {
            Offset::Offset(o) => o,
            Offset::Beginning => -2,
            _ => -1,
        })
    }

    /// Gives the assignment up before the close: unsubscribes and serves the revocation
    /// while the group still runs (within `within`). librdkafka answers no assign call once
    /// its group has begun terminating (its issue 4884): a rebalance event served during the
    /// close then waits for ever inside the revocation handler, and with it the IRIS job. With
    /// nothing assigned, the close raises no such event.
    fn leave_assignment(&self, within: Duration) {
        use rdkafka::consumer::Consumer as _;
        let deadline = Instant::now() + within;
        self.inner.unsubscribe();
        while Instant::now() < deadline {
            // Serve what is queued, a stale rebalance event and the revocation included
            // (records still queued are dropped: they are not tracked and come again to the
            // next owner); then wait while something is still assigned.
            if !matches!(self.inner.poll_record(0), Polled::Nothing) {
                continue;
            }
            match self.inner.assignment() {
                Ok(a) if a.count() > 0 => {
                    let _ = self.inner.poll_record(100);
                }
                _ => return,
            }
        }
        self.context().warn("the assignment was not given up before the close (the group did not answer in time)");
    }

    /// Commits what was processed, then leaves the group, each bounded in time (the commit
    /// timeout, then [`CLOSE_TIMEOUT`]); when the group cannot be left in time (broker gone)
    /// the client is destroyed without leaving. Every thread of the consumer has stopped when
    /// this returns.
    pub fn close(&mut self) -> Result<()> {
        let committed = if self.options.at_least_once {
            let _ = self.collect_commits();
            let deadline = Instant::now() + self.options.commit_timeout;
            let mut r = commit_tracked(&self.inner, self.acks(), None, self.options.commit_timeout);
            // Refused because the group is rebalancing, or the member was evicted and holds
            // processed offsets it commits when the partitions come back: serve the rejoin
            // and try again within the commit timeout (a record read meanwhile is not
            // tracked: it comes again).
            loop {
                let settling = matches!(&r, Err(e) if is_group_settling(e));
                if !(settling || r.is_ok() && self.acks().lock().has_kept()) || Instant::now() >= deadline {
                    break;
                }
                let _ = self.inner.poll_record(100);
                r = commit_tracked(&self.inner, self.acks(), None, deadline.saturating_duration_since(Instant::now()));
            }
            r
        } else {
            Ok(0)
        };
        // The commit queue goes before its client.
        drop(self.commits.lock().take());
        self.inner.context().closing.store(true, std::sync::atomic::Ordering::Release);
        if let Some(p) = self.dead_letters.lock().take() {
            p.flush(Duration::from_secs(5));
        }
        // Leaving needs the group coordinator: when the commit could not reach it, or (with
        // nothing to commit) a metadata request gets no answer, do not wait for it.
        let reachable = match &committed {
            Ok(n) if *n > 0 => true,
            Ok(_) => self.inner.fetch_metadata(None, Duration::from_secs(2)).is_ok(),
            Err(e) => !e.retriable,
        };
        let ctx = self.inner.context().clone();
        // A static member (KIP-345) must not leave the group on close: it keeps its
        // assignment for its restart, so it is closed directly.
        if reachable && self.options.partitions.is_none() && self.settings.get("group.instance.id").is_none() {
            self.leave_assignment(CLOSE_TIMEOUT / 2);
        }
        if !self.inner.close_within(CLOSE_TIMEOUT, reachable) {
            ctx.base.warn("the group could not be left (broker unreachable): closed without leaving");
        }
        committed.map(|_| ())
    }
}

/// The connection part of a consumer's settings, for its dead-letter producer.
fn producer_settings(consumer: &Settings) -> Settings {
    const CONSUMER_ONLY: &[&str] = &[
        "group.", "enable.auto.", "auto.", "partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms",
        "max.poll.interval.ms", "fetch.", "isolation.level", "queued.", "enable.partition.eof", "check.crcs",
        "consume.callback.max.messages", "coordinator.query.interval.ms",
    ];
    let mut s = Settings::with_defaults(crate::producer::PRODUCER_DEFAULTS);
    for (k, v) in consumer.iter() {
        if !CONSUMER_ONLY.iter().any(|c| k.starts_with(c)) {
            s.set_from(k, v, consumer.source_of(k));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_gap_free_prefix() {
        let mut t = AckTracker::default();
        for o in 10..15 {
            t.track("t", 0, o, None);
        }
        t.track("t", 1, 3, None);
        t.ack("t", 0, 11).unwrap();
        assert!(t.pending_commits(None, false).is_empty());
        t.ack("t", 0, 10).unwrap();
        assert_eq!(t.pending_commits(None, false), vec![("t".into(), 0, 12)]);
        t.committed(&t.pending_commits(None, false));
        assert!(t.pending_commits(None, false).is_empty());
        t.ack("t", 1, 3).unwrap();
        t.ack("t", 0, 13).unwrap();
        assert_eq!(t.pending_commits(None, false), vec![("t".into(), 1, 4)], "12 is not acked: 13 must wait");
        t.ack("t", 0, 12).unwrap();
        assert_eq!(t.pending_commits(None, false), vec![("t".into(), 0, 14), ("t".into(), 1, 4)]);
        assert!(t.ack("t", 0, 99).is_err());
        assert_eq!(t.ack("u", 0, 1).unwrap(), false, "unknown partition: discarded");
    }

    #[test]
    fn offsets_of_partitions_gone_uncommitted_are_kept_until_the_next_assignment() {
        let mut t = AckTracker::default();
        for p in 0..3 {
            t.track("t", p, 5, None);
            t.ack("t", p, 5).unwrap();
        }
        t.committed(&[("t".into(), 2, 6)]);
        let gone: Vec<Tp> = (0..3).map(|p| ("t".to_owned(), p)).collect();
        t.keep_uncommitted(&gone);
        t.forget(&gone);
        assert!(t.has_kept(), "partitions 0 and 1 went with processed, uncommitted offsets");
        assert!(t.pending_commits(None, true).is_empty(), "forgotten: nothing to commit now");
        assert_eq!(t.take_kept(&[("t".to_owned(), 1), ("t".to_owned(), 2)]), vec![("t".into(), 1, 6)], "2 was committed; 0 not back");
        assert!(!t.has_kept(), "partition 0 went to another member: its owner redelivers");
    }

    #[test]
    fn a_failure_rewinds_and_redelivery_replaces_entries() {
        let mut t = AckTracker::default();
        for o in 0..4 {
            t.track("t", 0, o, None);
        }
        t.ack("t", 0, 0).unwrap();
        assert_eq!(t.fail("t", 0, 1).unwrap().unwrap().0, 1);
        t.rewind("t", 0, 1, Instant::now());
        assert!(t.ack("t", 0, 2).is_err(), "records after the failed one were dropped");
        t.track("t", 0, 1, None);
        assert_eq!(t.fail("t", 0, 1).unwrap().unwrap().0, 2, "attempts count on");
        t.rewind("t", 0, 1, Instant::now());
        t.track("t", 0, 1, None);
        t.track("t", 0, 2, None);
        t.ack("t", 0, 2).unwrap();
        assert_eq!(t.pending_commits(None, false), vec![("t".into(), 0, 1)]);
        t.ack("t", 0, 1).unwrap();
        assert_eq!(t.pending_commits(None, false), vec![("t".into(), 0, 3)]);
        t.forget(&[("t".into(), 0)]);
        assert_eq!(t.ack("t", 0, 3).unwrap(), false);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let o = ConsumerOptions { retry_initial: Duration::from_millis(100), retry_max: Duration::from_millis(700), ..Default::default() };
        let b: Vec<u128> = (1..=5).map(|a| o.backoff(a).as_millis()).collect();
        assert_eq!(b, vec![100, 200, 400, 700, 700]);
        assert_eq!(o.backoff(1000).as_millis(), 700);
    }
}
