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

/// The producer's rdkafka context: logs, errors and delivery reports.
pub struct ProducerCtx {
    base: BridgeContext,
}

crate::client::delegate_client_context!(ProducerCtx);

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = Arc<DeliverySlot>;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Arc<DeliverySlot>) {
        let r = match result {
            Ok(m) => Ok(Delivered { partition: m.partition(), offset: m.offset() }),
            Err((e, _)) => Err(BridgeError::from_kafka(e, "delivery failed").redacted(&self.base.redactor)),
        };
        slot.complete(r);
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
        let ctx = ProducerCtx { base: BridgeContext::new(redactor.clone()) };
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
        let mut record = BaseRecord::<[u8], [u8], Arc<DeliverySlot>>::with_opaque_to(rec.topic, slot.clone());
        record.partition = rec.partition;
        record.key = rec.key;
        record.payload = rec.value;
        record.timestamp = rec.timestamp;
        record.headers = rec.owned_headers();
        loop {
            match self.inner.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if started.elapsed() < self.delivery_wait =>
                {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    return Err(BridgeError::from_kafka(&e, "produce").redacted(&self.context().redactor))
                }
            }
        }
        Ok(slot)
    }

    /// Flushes within `timeout` and returns how many records were still undelivered then.
    pub fn flush(&self, timeout: Duration) -> usize {
        let _ = self.inner.flush(timeout);
        self.inner.in_flight_count().max(0) as usize
    }
}
