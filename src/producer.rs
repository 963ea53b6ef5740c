//! The producer: sends records and confirms each one's delivery before answering, as an
//! Ens business operation must.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::BridgeContext;
use crate::config::{ClientSpec, Settings};
use crate::error::{BridgeError, Result};
use crate::message::ProduceRecord;

/// The producer defaults, each chosen for an integration engine:
/// * `enable.idempotence=true`: retries after a lost connection never duplicate or reorder;
/// * `acks=all`: a record is confirmed only when every in-sync replica has it;
/// * `partitioner=murmur2_random`: the Java client's key hashing, so a key lands on the same
///   partition as it did under `EnsLib.Kafka.Operation`.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] =
    &[("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random")];

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// Waits for one record's delivery report.
#[derive(Default)]
pub struct DeliverySlot {
    outcome: Mutex<Option<Result<Delivered>>>,
    ready: Condvar,
}

impl DeliverySlot {
    fn complete(&self, r: Result<Delivered>) {
        *self.outcome.lock() = Some(r);
        self.ready.notify_all();
    }

    fn wait(&self, deadline: Instant) -> Option<Result<Delivered>> {
        let mut g = self.outcome.lock();
        while g.is_none() {
            if self.ready.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
        g.take()
    }
}

/// Where a record's delivery report goes.
pub enum Delivery {
    /// A caller waits for it (confirmed produce).
    Wait(Arc<DeliverySlot>),
    /// It is counted for [`Producer::reports`] (sent with [`Producer::send_async`]); the
    /// record's sequence number.
    Async(u64),
}

/// Outcomes of records sent without waiting, collected by [`Producer::reports`].
#[derive(Default)]
pub struct AsyncReports {
    state: Mutex<AsyncState>,
    settled: Condvar,
}

#[derive(Default)]
struct AsyncState {
    next_seq: u64,
    in_flight: u64,
    delivered: u64,
    failures: std::collections::VecDeque<(u64, BridgeError)>,
}

/// What [`Producer::reports`] answers.
#[derive(Debug, Default)]
pub struct Reports {
    /// Records delivered since the last call.
    pub delivered: u64,
    /// Failed records since the last call (sequence number and error), oldest first.
    pub failures: Vec<(u64, BridgeError)>,
    /// Records sent and not reported yet.
    pub in_flight: u64,
}

/// The producer's rdkafka context: logs, errors and delivery reports.
pub struct ProducerCtx {
    base: BridgeContext,
    reports: AsyncReports,
}

crate::client::delegate_client_context!(ProducerCtx);

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, to: Box<Delivery>) {
        let r = match result {
            Ok(m) => Ok(Delivered { partition: m.partition(), offset: m.offset() }),
            Err((e, _)) => Err(BridgeError::from_kafka(e, "delivery failed").redacted(&self.base.redactor)),
        };
        match *to {
            Delivery::Wait(slot) => slot.complete(r),
            Delivery::Async(seq) => {
                let mut st = self.reports.state.lock();
                match r {
                    Ok(_) => st.delivered += 1,
                    Err(e) => {
                        self.base.warn(&format!("record {seq} was not delivered: {e}"));
                        st.failures.push_back((seq, e));
                    }
                }
                st.in_flight -= 1;
                if st.in_flight == 0 {
                    self.reports.settled.notify_all();
                }
            }
        }
    }
}

/// A producer handle's state.
pub struct Producer {
    inner: ThreadedProducer<ProducerCtx>,
    delivery_wait: Duration,
    staging: Mutex<Staging>,
}

/// Field bytes a host sent ahead of a produce call, for values too large for one call.
#[derive(Default)]
pub struct Staging {
    fields: [Vec<u8>; 3],
}

impl Staging {
    /// The staged bytes of a field (1 key, 2 value, 3 headers).
    pub fn field(&self, field: i32) -> &[u8] {
        &self.fields[(field - 1) as usize]
    }
}

impl Producer {
    /// Creates a producer from the host's configuration over the bridge's defaults.
    pub fn new(spec: &ClientSpec) -> Result<Self> {
        let (all, warnings) = spec.librdkafka(PRODUCER_DEFAULTS)?;
        Self::from_settings(&all, warnings)
    }

    /// Creates a producer from final librdkafka settings.
    pub fn from_settings(all: &Settings, warnings: Vec<String>) -> Result<Self> {
        let (cfg, redactor) = all.to_client_config();
        let ctx = ProducerCtx { base: BridgeContext::new(redactor.clone()), reports: AsyncReports::default() };
        for w in warnings {
            ctx.base.warn(&w);
        }
        // The polling thread rdkafka starts must not take the IRIS job's signals.
        let inner = crate::boundary::sys::with_signals_blocked(|| ThreadedProducer::from_config_and_context(&cfg, ctx))
            .map_err(|e| all.explain(&e, "creating the producer", &redactor))?;
        let timeout_ms: u64 = all.get("message.timeout.ms").and_then(|v| v.parse().ok()).unwrap_or(300_000);
        Ok(Producer {
            inner,
            // librdkafka reports every record by message.timeout.ms; wait a little longer.
            delivery_wait: Duration::from_millis(timeout_ms) + Duration::from_secs(30),
            staging: Mutex::new(Staging::default()),
        })
    }

    /// The context (logs, last error, redactor).
    pub fn context(&self) -> &BridgeContext {
        &self.inner.context().base
    }

    /// Appends bytes to a staged field.
    pub fn stage(&self, field: i32, bytes: &[u8]) -> Result<()> {
        if !(1..=3).contains(&field) {
            return Err(BridgeError::bad_argument(format!("unknown field number {field} (1 key, 2 value, 3 headers)")));
        }
        self.staging.lock().fields[(field - 1) as usize].extend_from_slice(bytes);
        Ok(())
    }

    /// Runs `f` with the staged fields, then clears them whatever `f` returned.
    pub fn with_staged<T>(&self, f: impl FnOnce(&Staging) -> T) -> T {
        let mut g = self.staging.lock();
        let r = f(&g);
        for v in g.fields.iter_mut() {
            v.clear();
        }
        r
    }

    /// Produces one record and waits for its delivery report. The record is sent at once
    /// (`linger.ms` does not delay a record the caller waits for).
    pub fn produce(&self, rec: &ProduceRecord<'_>) -> Result<Delivered> {
        let started = Instant::now();
        let slot = self.send(rec, started)?;
        crate::boundary::sys::flush_now(&self.inner, self.delivery_wait);
        Self::wait(&slot, started + self.delivery_wait)
    }

    /// Produces every record, then waits for every delivery report; outcomes in input order.
    pub fn produce_batch(&self, recs: &[ProduceRecord<'_>]) -> Vec<Result<Delivered>> {
        let started = Instant::now();
        let slots: Vec<Result<Arc<DeliverySlot>>> = recs.iter().map(|r| self.send(r, started)).collect();
        crate::boundary::sys::flush_now(&self.inner, self.delivery_wait);
        slots
            .into_iter()
            .map(|s| s.and_then(|slot| Self::wait(&slot, started + self.delivery_wait)))
            .collect()
    }

    fn wait(slot: &DeliverySlot, deadline: Instant) -> Result<Delivered> {
        slot.wait(deadline).unwrap_or_else(|| {
            Err(BridgeError::from_code(RDKafkaErrorCode::MessageTimedOut, "no delivery report in time"))
        })
    }

    /// Hands a record to librdkafka (waiting while its queue is full); the slot gets the
    /// delivery report.
    fn send(&self, rec: &ProduceRecord<'_>, started: Instant) -> Result<Arc<DeliverySlot>> {
        let slot = Arc::new(DeliverySlot::default());
        self.enqueue(rec, Delivery::Wait(slot.clone()), started)?;
        Ok(slot)
    }

    /// Hands a record to librdkafka, waiting while its queue is full (until the delivery wait
    /// is over).
    fn enqueue(&self, rec: &ProduceRecord<'_>, to: Delivery, started: Instant) -> Result<()> {
        let mut record = BaseRecord::<[u8], [u8], Box<Delivery>>::with_opaque_to(rec.topic, Box::new(to));
        record.partition = rec.partition;
        record.key = rec.key;
        record.payload = rec.value;
        record.timestamp = rec.timestamp;
        record.headers = rec.owned_headers();
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if started.elapsed() < self.delivery_wait =>
                {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => {
                    return Err(BridgeError::from_kafka(&e, "produce").redacted(&self.context().redactor))
                }
            }
        }
    }

    /// Sends records without waiting for their delivery (bulk loads): each gets the next
    /// sequence number of this producer, in order; their outcomes are collected with
    /// [`Producer::reports`]. A record librdkafka refuses at once (unknown partition, larger
    /// than `message.max.bytes`, queue full for the whole delivery wait) is reported failed
    /// there like any other; the rest of the batch is sent. Returns the first record's
    /// sequence number.
    pub fn send_async(&self, recs: &[ProduceRecord<'_>]) -> u64 {
        let started = Instant::now();
        let reports = self.context_reports();
        let first = {
            let mut st = reports.state.lock();
            let first = st.next_seq + 1;
            st.next_seq += recs.len() as u64;
            st.in_flight += recs.len() as u64;
            first
        };
        for (i, rec) in recs.iter().enumerate() {
            let seq = first + i as u64;
            if let Err(e) = self.enqueue(rec, Delivery::Async(seq), started) {
                self.context().warn(&format!("record {seq} was not sent: {e}"));
                let mut st = reports.state.lock();
                st.failures.push_back((seq, e));
                st.in_flight -= 1;
                if st.in_flight == 0 {
                    reports.settled.notify_all();
                }
            }
        }
        first
    }

    fn context_reports(&self) -> &AsyncReports {
        &self.inner.context().reports
    }

    /// Collects the outcomes of records sent with [`Producer::send_async`]: waits up to
    /// `timeout` for every one to be reported (sending lingering records at once), then
    /// answers how many were delivered since the last call, up to `max_failures` failures
    /// (the rest stay for the next call) and how many are still in flight.
    pub fn reports(&self, timeout: Duration, max_failures: usize) -> Reports {
        let deadline = Instant::now() + timeout;
        let r = self.context_reports();
        if !timeout.is_zero() && r.state.lock().in_flight > 0 {
            crate::boundary::sys::flush_now(&self.inner, timeout);
        }
        let mut st = r.state.lock();
        while st.in_flight > 0 {
            if r.settled.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        let take = st.failures.len().min(max_failures);
        let failures: Vec<(u64, BridgeError)> = st.failures.drain(..take).collect();
        let out = Reports { delivered: st.delivered, failures, in_flight: st.in_flight };
        st.delivered = 0;
        out
    }

    /// Failures of records sent without waiting that no one collected, after waiting up to
    /// `timeout` for the reports still on their way (close counts them as undelivered).
    pub fn uncollected_failures(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let r = self.context_reports();
        let mut st = r.state.lock();
        while st.in_flight > 0 && !r.settled.wait_until(&mut st, deadline).timed_out() {}
        for (seq, e) in &st.failures {
            self.context().warn(&format!("record {seq} was not delivered and its failure was never collected: {e}"));
        }
        st.failures.len()
    }

    /// Flushes within `timeout` and returns how many records were still undelivered then.
    pub fn flush(&self, timeout: Duration) -> usize {
        let _ = self.inner.flush(timeout);
        self.inner.in_flight_count().max(0) as usize
    }
}
