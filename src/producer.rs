//! The producer: sends records and confirms each one's delivery before answering, as an
//! Ens business operation must.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::BridgeContext;
use crate::config::{ClientSpec, Settings};
use crate::error::{BridgeError, Result};
use crate::message::ProduceRecord;

/// The producer defaults, each chosen for an integration engine:
/// * `enable.idempotence=true`: retries after a lost connection never duplicate or reorder;
/// * `acks=all`: a record is confirmed only when every in-sync replica has it;
/// * `partitioner=murmur2_random`: the Java client's key hashing, so a key lands on the same
///   partition as it did under `EnsLib.Kafka.Operation`;
/// * `linger.ms=0` (librdkafka: 5): the Java client's default before Kafka 4.0 (KIP-1030), which
///   `EnsLib.Kafka.Operation` runs, so batching behaves as it did there. A confirmed record
///   is sent at once whatever the linger (see [`Producer::produce`]); a bulk `ProduceSend`
///   hands librdkafka many records at once, which batch by themselves while a request is in
///   flight (the bench's linger 0 / linger 5 rows are within their run-to-run spread).
pub const PRODUCER_DEFAULTS: &[(&str, &str)] =
    &[("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random"), ("linger.ms", "0")];

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
    fn is_done(&self) -> bool {
        self.outcome.lock().is_some()
    }

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

/// Outcomes of records sent without waiting, collected by [`Producer::reports`]. The
/// delivery callback only touches atomics on success (it runs once per record).
#[derive(Default)]
pub struct AsyncReports {
    next_seq: AtomicU64,
    in_flight: AtomicU64,
    delivered: AtomicU64,
    failures: Mutex<std::collections::VecDeque<(u64, BridgeError)>>,
    /// Held to wait for, and to announce, the moment nothing is in flight any more.
    idle: Mutex<()>,
    settled: Condvar,
}

impl AsyncReports {
    /// One record fewer in flight; wakes the waiters when it was the last.
    fn done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = self.idle.lock();
            self.settled.notify_all();
        }
    }

    /// Waits until nothing is in flight or `deadline`.
    fn wait_idle(&self, deadline: Instant) {
        let mut g = self.idle.lock();
        while self.in_flight.load(Ordering::Acquire) > 0 {
            if self.settled.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
    }
}

/// The delivery opaque of a record: odd values are the sequence number of a record sent
/// without waiting (`seq << 1 | 1`), even ones the id of a waiting caller's slot (`id << 1`).
/// A number, not a pointer: nothing is allocated or leaked per record.
type DeliveryTag = usize;

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
    /// Slots of callers waiting for a delivery report, by id.
    waiting: Mutex<std::collections::HashMap<usize, Arc<DeliverySlot>>>,
    next_wait: AtomicUsize,
}

crate::client::delegate_client_context!(ProducerCtx);

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = DeliveryTag;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: DeliveryTag) {
        if tag & 1 == 1 {
            match result {
                Ok(_) => {
                    self.reports.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err((e, _)) => {
                    let e = BridgeError::from_kafka(e, "delivery failed").redacted(&self.base.redactor);
                    let seq = (tag >> 1) as u64;
                    self.base.warn(&format!("record {seq} was not delivered: {e}"));
                    self.reports.failures.lock().push_back((seq, e));
                }
            }
            self.reports.done();
            return;
        }
        let r = match result {
            Ok(m) => Ok(Delivered { partition: m.partition(), offset: m.offset() }),
            Err((e, _)) => Err(BridgeError::from_kafka(e, "delivery failed").redacted(&self.base.redactor)),
        };
        if let Some(slot) = self.waiting.lock().remove(&(tag >> 1)) {
            slot.complete(r);
        }
    }
}

/// A producer handle's state.
pub struct Producer {
    inner: crate::boundary::sys::ReportPump<ProducerCtx>,
    delivery_wait: Duration,
    /// `linger.ms` is 0 (the default): a record is sent as soon as it is handed over, and a
    /// caller waiting for it serves the delivery reports itself. With a linger, the caller
    /// makes librdkafka send at once and waits for the background thread to serve them.
    no_linger: bool,
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
        let ctx = ProducerCtx {
            base: BridgeContext::new(redactor.clone()),
            reports: AsyncReports::default(),
            waiting: Mutex::new(Default::default()),
            next_wait: AtomicUsize::new(0),
        };
        for w in warnings {
            ctx.base.warn(&w);
        }
        // librdkafka's threads must not take the IRIS job's signals (the pump blocks them in
        // its own thread too).
        let base = crate::boundary::sys::with_signals_blocked(|| BaseProducer::from_config_and_context(&cfg, ctx))
            .map_err(|e| all.explain(&e, "creating the producer", &redactor))?;
        crate::boundary::sys::sasl_callbacks_in_background(base.client()).map_err(|e| e.redacted(&redactor))?;
        let inner = crate::boundary::sys::ReportPump::new(base)
            .map_err(|e| BridgeError::bad_argument(format!("creating the producer: its report thread did not start: {e}")))?;
        let timeout_ms: u64 = all.get("message.timeout.ms").and_then(|v| v.parse().ok()).unwrap_or(300_000);
        let zero = |key: &str| all.get(key).is_none_or(|v| v.trim().parse::<f64>().is_ok_and(|ms| ms == 0.0));
        Ok(Producer {
            inner,
            no_linger: all.get("linger.ms").is_some() && zero("linger.ms") && zero("queue.buffering.max.ms"),
            // librdkafka reports every record by message.timeout.ms; wait a little longer.
            delivery_wait: Duration::from_millis(timeout_ms) + Duration::from_secs(30),
            staging: Mutex::new(Staging::default()),
        })
    }

    /// The context (logs, last error, redactor).
    pub fn context(&self) -> &BridgeContext {
        &self.inner.producer().context().base
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
        self.await_reports(|| slot.is_done(), started + self.delivery_wait);
        Self::wait(&slot, started + self.delivery_wait)
    }

    /// Waits until `done()` (the awaited records are reported) or `deadline`: serving the
    /// reports in this thread without a linger, else sending at once and waiting.
    fn await_reports(&self, done: impl Fn() -> bool, deadline: Instant) {
        if self.no_linger {
            self.inner.serve_until(done, deadline);
        } else {
            crate::boundary::sys::flush_now(self.inner.producer(), deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// Produces every record, then waits for every delivery report; outcomes in input order.
    pub fn produce_batch(&self, recs: &[ProduceRecord<'_>]) -> Vec<Result<Delivered>> {
        let started = Instant::now();
        let slots: Vec<Result<Arc<DeliverySlot>>> = recs.iter().map(|r| self.send(r, started)).collect();
        self.await_reports(|| slots.iter().all(|s| s.as_ref().map_or(true, |s| s.is_done())), started + self.delivery_wait);
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
        let ctx = self.inner.producer().context();
        let id = ctx.next_wait.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        let slot = Arc::new(DeliverySlot::default());
        ctx.waiting.lock().insert(id, slot.clone());
        if let Err(e) = self.enqueue(rec, id << 1, started) {
            ctx.waiting.lock().remove(&id);
            return Err(e);
        }
        Ok(slot)
    }

    /// Hands a record to librdkafka, waiting while its queue is full (until the delivery wait
    /// is over).
    fn enqueue(&self, rec: &ProduceRecord<'_>, tag: DeliveryTag, started: Instant) -> Result<()> {
        loop {
            match self.inner.send(rec, tag) {
                Ok(()) => return Ok(()),
                Err(RDKafkaErrorCode::QueueFull) if started.elapsed() < self.delivery_wait => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(code) => {
                    let e = KafkaError::MessageProduction(code);
                    return Err(BridgeError::from_kafka(&e, "produce").redacted(&self.context().redactor));
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
        let first = reports.next_seq.fetch_add(recs.len() as u64, Ordering::Relaxed) + 1;
        reports.in_flight.fetch_add(recs.len() as u64, Ordering::AcqRel);
        for (i, rec) in recs.iter().enumerate() {
            let seq = first + i as u64;
            if let Err(e) = self.enqueue(rec, ((seq as usize) << 1) | 1, started) {
                self.context().warn(&format!("record {seq} was not sent: {e}"));
                reports.failures.lock().push_back((seq, e));
                reports.done();
            }
        }
        first
    }

    fn context_reports(&self) -> &AsyncReports {
        &self.inner.producer().context().reports
    }

    /// Collects the outcomes of records sent with [`Producer::send_async`]: waits up to
    /// `timeout` for every one to be reported (sending lingering records at once), then
    /// answers how many were delivered since the last call, up to `max_failures` failures
    /// (the rest stay for the next call) and how many are still in flight.
    pub fn reports(&self, timeout: Duration, max_failures: usize) -> Reports {
        let deadline = Instant::now() + timeout;
        let r = self.context_reports();
        // (with no linger every record is sent as it comes: a flush would only make
        // librdkafka's broker thread poll without waiting until everything is reported)
        if !timeout.is_zero() && !self.no_linger && r.in_flight.load(Ordering::Acquire) > 0 {
            crate::boundary::sys::flush_now(self.inner.producer(), timeout);
        }
        r.wait_idle(deadline);
        let in_flight = r.in_flight.load(Ordering::Acquire);
        let delivered = r.delivered.swap(0, Ordering::AcqRel);
        let mut f = r.failures.lock();
        let take = f.len().min(max_failures);
        Reports { delivered, failures: f.drain(..take).collect(), in_flight }
    }

    /// Failures of records sent without waiting that no one collected, after waiting up to
    /// `timeout` for the reports still on their way (close counts them as undelivered).
    pub fn uncollected_failures(&self, timeout: Duration) -> usize {
        let r = self.context_reports();
        r.wait_idle(Instant::now() + timeout);
        let f = r.failures.lock();
        for (seq, e) in f.iter() {
            self.context().warn(&format!("record {seq} was not delivered and its failure was never collected: {e}"));
        }
        f.len()
    }

    /// Flushes within `timeout` and returns how many records were still undelivered then.
    pub fn flush(&self, timeout: Duration) -> usize {
        let _ = self.inner.producer().flush(timeout);
        self.inner.producer().in_flight_count().max(0) as usize
    }
}
