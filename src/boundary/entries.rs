//! The `$ZF` function table. **Append only**: an entry's 1-based position is its function id
//! in every ObjectScript that calls it; never reorder, rename or remove an entry, and never
//! change a published entry's parameters — add a new entry instead.
//!
//! Each entry is written as a Rust function whose parameter types (see [`super::abi`]) give
//! its descriptor letters. Input-only parameters are the `$ZF` call's arguments in order;
//! outputs come back joined by commas in order (a binary output is always last).

use std::os::raw::c_int;
use std::time::Duration;

use super::abi::{MAX_LONG_STRING, InBytes, InI32, InI64, InLong, OutBytes, OutI32, OutI64, OutLong, Status, ZfParam};
use super::{guard, RawEntry, CONSUMERS, PRODUCERS};
use crate::config::ClientSpec;
use crate::consumer::Consumer;
use crate::error::{BridgeError, Result};
use crate::message::ProduceRecord;
use crate::producer::Producer;
use crate::wire::{self, field};

macro_rules! zf_table {
    ($(
        $(#[doc = $doc:expr])*
        fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            #[allow(non_snake_case, unused_mut)]
            extern "C" fn $name($(mut $arg: $ty),*) -> c_int {
                $( ZfParam::prepare(&mut $arg); )*
                let outcome = guard(stringify!($name), || -> Result<()> { $body });
                if let Err(code) = outcome {
                    $( ZfParam::on_error(&mut $arg, code); )*
                }
                $( ZfParam::release(&mut $arg); )*
                0
            }
        )*

        /// Every entry in table order.
        pub(crate) fn raw_entries() -> Vec<RawEntry> {
            vec![$(RawEntry {
                name: stringify!($name),
                letters: &[$(<$ty as ZfParam>::LETTER),*],
                func: $name as *const () as usize,
                doc: concat!($($doc, "\n",)* ""),
            }),*]
        }
    };
}

/// Produce flags (the `flags` argument of `Produce`).
pub mod produce_flags {
    /// The key is not null (an empty key argument is then an empty key).
    pub const KEY: i32 = 1;
    /// The value is not null.
    pub const VALUE: i32 = 2;
    /// The key comes from `ProducerStage` (field 1), not the argument.
    pub const KEY_STAGED: i32 = 4;
    /// The value comes from `ProducerStage` (field 2).
    pub const VALUE_STAGED: i32 = 8;
    /// The headers come from `ProducerStage` (field 3).
    pub const HEADERS_STAGED: i32 = 16;
    /// The `timestamp` argument is set (else librdkafka stamps the record).
    pub const TIMESTAMP: i32 = 32;
}

fn spec_from(blob: &[u8]) -> Result<ClientSpec> {
    ClientSpec::parse(wire::decode_pairs(blob)?)
}

/// The log sink of a producer or consumer handle.
fn with_client<T>(handle: i64, f: impl FnOnce(&crate::client::BridgeContext) -> Result<T>) -> Result<T> {
    if let Ok(p) = PRODUCERS.get(handle) {
        return f(p.context());
    }
    match CONSUMERS.get(handle) {
        Ok(c) => f(c.context()),
        Err(_) => Err(BridgeError::bad_handle(format!("{handle} is not a live producer or consumer handle"))),
    }
}

fn record_from_batch<'a>(r: &wire::BatchRecord<'a>, topics: &mut TopicText<'a>) -> Result<ProduceRecord<'a>> {
    let topic = topics.text(r.topic)?;
    Ok(ProduceRecord {
        topic,
        partition: (r.partition >= 0).then_some(r.partition),
        key: (r.flags & produce_flags::KEY != 0).then_some(r.key),
        value: (r.flags & produce_flags::VALUE != 0).then_some(r.value),
        headers: ProduceRecord::parse_headers(r.headers)?,
        timestamp: (r.flags & produce_flags::TIMESTAMP != 0).then_some(r.timestamp),
    })
}

/// The topics of a batch as text: the records of a batch mostly share their topic, which is
/// then checked (non-empty, UTF-8) once rather than per record.
#[derive(Default)]
struct TopicText<'a> {
    last: Option<(&'a [u8], &'a str)>,
}

impl<'a> TopicText<'a> {
    fn text(&mut self, bytes: &'a [u8]) -> Result<&'a str> {
        if let Some((b, t)) = self.last {
            if b == bytes {
                return Ok(t);
            }
        }
        let t = std::str::from_utf8(bytes).map_err(|_| BridgeError::bad_argument("topic is not valid UTF-8"))?;
        if t.is_empty() {
            return Err(BridgeError::bad_argument("no topic"));
        }
        self.last = Some((bytes, t));
        Ok(t)
    }
}

/// Room one batch outcome can take at most (`code,partition,offset,NAME;`).
const OUTCOME_MAX: usize = 12 + 12 + 21 + 48 + 1;

/// Produces a batch and encodes each record's outcome in input order. A batch whose outcomes
/// might not fit `capacity` is refused before anything is sent.
fn produce_batch(p: &Producer, blob: &[u8], capacity: usize) -> Result<Vec<u8>> {
    let batch = wire::decode_batch(blob)?;
    if batch.len() * OUTCOME_MAX > capacity {
        return Err(BridgeError::too_large(format!(
            "a batch of {} records may answer more than the reply capacity of {capacity} bytes; send at most {}",
            batch.len(),
            capacity / OUTCOME_MAX
        )));
    }
    let mut topics = TopicText::default();
    let recs: Vec<Result<ProduceRecord<'_>>> = batch.iter().map(|r| record_from_batch(r, &mut topics)).collect();
    let valid: Vec<ProduceRecord<'_>> = recs.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut outcomes = p.produce_batch(&valid).into_iter();
    let mut out = Vec::with_capacity(batch.len() * 16);
    for r in recs {
        match r.and_then(|_| outcomes.next().expect("one outcome per valid record")) {
            Ok(d) => wire::push_outcome(&mut out, 0, d.partition, d.offset, "OK"),
            Err(e) => wire::push_outcome(&mut out, e.code, -1, -1, &e.name),
        }
    }
    Ok(out)
}

/// Sends a batch without waiting: every record is checked first (a bad one fails the call
/// with nothing sent). Answers the first sequence number and the count.
fn send_batch(p: &Producer, blob: &[u8]) -> Result<(u64, usize)> {
    let batch = wire::decode_batch(blob)?;
    let mut topics = TopicText::default();
    let recs = batch
        .iter()
        .enumerate()
        .map(|(i, r)| {
            record_from_batch(r, &mut topics).map_err(|mut e| {
                e.message = format!("record {} of the batch: {} (nothing was sent)", i + 1, e.message);
                e
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((p.send_async(&recs), recs.len()))
}

fn timeout_ms(ms: i32) -> Result<Duration> {
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| BridgeError::bad_argument(format!("timeout {ms} ms is negative")))
}

fn chunk_of(data: &[u8], offset: i64, max: usize) -> Result<&[u8]> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&s| s <= data.len())
        .ok_or_else(|| BridgeError::bad_argument(format!("offset {offset} is outside a field of {} bytes", data.len())))?;
    Ok(&data[start..(start + max).min(data.len())])
}

/// One confirmed record from `Produce`'s arguments (or `ProduceLong`'s): staged fields stand
/// in for the arguments their flags name, and are used up whatever happens (an unreadable
/// argument included).
#[allow(clippy::too_many_arguments)]
fn produce_one(
    p: &Producer, topic: Result<&str>, partition: i32, flags: i32, timestamp: i64, key: Result<&[u8]>,
    value: Result<&[u8]>, headers: Result<&[u8]>,
) -> Result<crate::producer::Delivered> {
    p.with_staged(|staged| {
        let (topic, key, value, headers) = (topic?, key?, value?, headers?);
        if topic.is_empty() {
            return Err(BridgeError::bad_argument("no topic"));
        }
        if partition < -1 {
            return Err(BridgeError::bad_argument(format!("partition {partition} is invalid")));
        }
        let key = if flags & produce_flags::KEY_STAGED != 0 { staged.field(field::KEY) } else { key };
        let value = if flags & produce_flags::VALUE_STAGED != 0 { staged.field(field::VALUE) } else { value };
        let headers = if flags & produce_flags::HEADERS_STAGED != 0 { staged.field(field::HEADERS) } else { headers };
        let rec = ProduceRecord {
            topic,
            partition: (partition >= 0).then_some(partition),
            key: (flags & (produce_flags::KEY | produce_flags::KEY_STAGED) != 0).then_some(key),
            value: (flags & (produce_flags::VALUE | produce_flags::VALUE_STAGED) != 0).then_some(value),
            headers: ProduceRecord::parse_headers(headers)?,
            timestamp: (flags & produce_flags::TIMESTAMP != 0).then_some(timestamp),
        };
        p.produce(&rec)
    })
}

/// Polls one record within `timeout` ms and writes its frame straight into the reply
/// (nothing when none arrived).
fn poll_into(c: &Consumer, timeout: i32, record: &mut OutBytes) -> Result<()> {
    let wait = timeout_ms(timeout)?;
    record.fill(|buf| {
        let cap = buf.len();
        let mut out = wire::SliceOut::new(buf);
        c.poll(wait, |rec| match rec {
            Some(r) => wire::encode_record_frame(&r.view(), cap, &mut out).map(|_| ()).ok_or_else(|| {
                BridgeError::too_large(format!("the frame of a record of topic {} does not fit the reply capacity of {cap} bytes", r.topic))
            }),
            None => Ok(()),
        })??;
        Ok(((), wire::FrameOut::len(&out)))
    })
}

zf_table! {
    /// Versions: `iriskafka <version> librdkafka <version> <target> <profile> features=<list>
    /// entries=<table size>` (an ObjectScript include generated for a larger table needs a newer
    /// library).
    fn Version(out: OutBytes) {
        let v = format!(
            "iriskafka {} librdkafka {} {} {} features={} entries={}",
            env!("CARGO_PKG_VERSION"),
            super::sys::rdkafka_version(),
            env!("IRISKAFKA_BUILD_TARGET"),
            env!("IRISKAFKA_BUILD_PROFILE"),
            super::sys::rdkafka_features(),
            raw_entries().len()
        );
        out.write(v.as_bytes())
    }

    /// The last error of this process: `code,retriable,fatal,NAME,message` (message last, may
    /// hold commas). Empty when no call has failed yet.
    fn LastError(out: OutBytes) {
        let text = match super::last_error() {
            None => String::new(),
            Some(e) => format!("{},{},{},{},{}", e.code, e.retriable as u8, e.fatal as u8, e.name, e.message),
        };
        let cap = out.capacity();
        let bytes = text.as_bytes();
        let mut end = bytes.len().min(cap);
        while end > 0 && end < bytes.len() && !text.is_char_boundary(end) {
            end -= 1;
        }
        out.write(&bytes[..end])
    }

    /// Creates a producer. `config` is pairs: librdkafka properties (a `#source` pair labels
    /// the ones after it for error messages) and `host:<Setting>` IRIS settings, which win.
    fn ProducerNew(config: InBytes, status: Status, handle: OutI64) {
        let producer = Producer::new(&spec_from(config.bytes()?)?)?;
        handle.set(PRODUCERS.insert(producer)?)
    }

    /// Produces one record and waits for its delivery report; answers where it was written.
    /// `partition` -1 lets the partitioner choose by key; `flags` see `produce_flags`;
    /// `headers` in the pairs layout.
    fn Produce(
        handle: InI64, topic: InBytes, partition: InI32, flags: InI32, timestamp: InI64,
        key: InBytes, value: InBytes, headers: InBytes,
        status: Status, out_partition: OutI32, out_offset: OutI64
    ) {
        let p = PRODUCERS.get(handle.0)?;
        let delivered = produce_one(&p, topic.text("topic"), partition.0, flags.0, timestamp.0, key.bytes(), value.bytes(), headers.bytes())?;
        out_partition.set(delivered.partition)?;
        out_offset.set(delivered.offset)
    }

    /// Appends a chunk to a staged field (1 key, 2 value, 3 headers) of the next `Produce`,
    /// for fields larger than one call can carry.
    fn ProducerStage(handle: InI64, field: InI32, chunk: InBytes, status: Status) {
        PRODUCERS.get(handle.0)?.stage(field.0, chunk.bytes()?)
    }

    /// As `ProducerStage`, with the chunk as a long string (up to 3,641,144 bytes a call).
    fn ProducerStageLong(handle: InI64, field: InI32, chunk: InLong, status: Status) {
        PRODUCERS.get(handle.0)?.stage(field.0, chunk.bytes()?)
    }

    /// Flushes for at most `timeout_ms`, then destroys the producer; answers how many records
    /// were still undelivered (they are reported failed, never silently dropped).
    fn ProducerClose(handle: InI64, timeout: InI32, status: Status, undelivered: OutI32) {
        let t = timeout_ms(timeout.0)?;
        let p = PRODUCERS.remove(handle.0)?;
        let started = std::time::Instant::now();
        let left = p.flush(t);
        // Failures of records sent without waiting that were never collected count too.
        let failed = p.uncollected_failures(t.saturating_sub(started.elapsed()));
        drop(p);
        undelivered.set((left + failed) as i32)
    }

    /// Creates a consumer (config as for `ProducerNew`, plus the host settings AtLeastOnce,
    /// MaxAttempts, RetryInitialMs, RetryMaxMs, DeadLetterTopic, Partition) subscribed to
    /// `topics` (comma-separated), or assigned the `Partition` list of each.
    fn ConsumerNew(config: InBytes, topics: InBytes, status: Status, handle: OutI64) {
        let c = Consumer::new(&spec_from(config.bytes()?)?, topics.text("topics")?)?;
        handle.set(CONSUMERS.insert(c)?)
    }

    /// Polls one record within `timeout_ms`; answers its record frame (see the wire layout),
    /// empty when none arrived. The record becomes current and outstanding until acked.
    fn ConsumerPoll(handle: InI64, timeout: InI32, status: Status, record: OutBytes) {
        let c = CONSUMERS.get(handle.0)?;
        poll_into(&c, timeout.0, &mut record)
    }

    /// Reads up to the reply capacity of a field (1 key, 2 value, 3 headers) of the current
    /// record from byte `offset`, for fields the frame left out.
    fn ConsumerReadField(handle: InI64, field: InI32, offset: InI64, status: Status, chunk: OutBytes) {
        let c = CONSUMERS.get(handle.0)?;
        let cap = chunk.capacity();
        c.with_current(|r| chunk.write(chunk_of(r.field(field.0)?, offset.0, cap)?))
    }

    /// Reads a field of the current record from byte `offset` as one long string of up to
    /// 3,641,144 bytes (the IRIS long-string limit); larger fields take several calls.
    fn ConsumerReadFieldLong(handle: InI64, field: InI32, offset: InI64, status: Status, data: OutLong) {
        let c = CONSUMERS.get(handle.0)?;
        c.with_current(|r| data.write(chunk_of(r.field(field.0)?, offset.0, MAX_LONG_STRING)?))
    }

    /// Acknowledges a record as processed; its offset becomes committable once every
    /// earlier record of its partition is acknowledged too.
    fn ConsumerAck(handle: InI64, topic: InBytes, partition: InI32, offset: InI64, status: Status) {
        CONSUMERS.get(handle.0)?.ack(topic.text("topic")?, partition.0, offset.0)
    }

    /// Sends the commit of the acknowledged offsets without waiting (a failure comes back with
    /// the next call); answers how many partitions' offsets were sent: none when nothing was
    /// pending or when `host:CommitIntervalMs` has not passed since the last commit.
    fn ConsumerCommit(handle: InI64, status: Status, count: OutI32) {
        let n = CONSUMERS.get(handle.0)?.commit()?;
        count.set(n as i32)
    }

    /// Commits what was acknowledged, leaves the group and destroys the consumer.
    fn ConsumerClose(handle: InI64, status: Status) {
        let mut c = super::sole_owner(CONSUMERS.remove(handle.0)?);
        c.close()
    }

    /// Reports a record as failed (its `error` text goes to the log and dead-letter headers).
    /// `outcome`: 1 redelivered after the backoff, 2 sent to the dead-letter topic, 3 given up
    /// (attempts exhausted, no dead-letter topic), 4 discarded (partition no longer owned).
    fn ConsumerNack(
        handle: InI64, topic: InBytes, partition: InI32, offset: InI64, error: InBytes,
        status: Status, outcome: OutI32
    ) {
        let c = CONSUMERS.get(handle.0)?;
        let text = String::from_utf8_lossy(error.bytes()?);
        let o = c.nack(topic.text("topic")?, partition.0, offset.0, &text)?;
        outcome.set(o as i32)
    }

    /// Moves a partition: `mode` 0 to offset `value`, 1 to the first record at or after
    /// timestamp `value` (ms), 2 to the beginning, 3 to the end; answers the offset (-2
    /// beginning, -1 end). The partition must be assigned to this consumer.
    fn ConsumerSeek(
        handle: InI64, topic: InBytes, partition: InI32, mode: InI32, value: InI64,
        status: Status, offset: OutI64
    ) {
        let c = CONSUMERS.get(handle.0)?;
        offset.set(c.seek(topic.text("topic")?, partition.0, mode.0, value.0)?)
    }

    /// Takes the client's queued log lines (librdkafka's and the bridge's, secrets redacted),
    /// oldest first, as many as fit: `<dropped>,` then pairs of `<level>|<facility>` and the
    /// text. `dropped` counts lines lost to overflow since the last call.
    fn ClientLogs(handle: InI64, status: Status, lines: OutBytes) {
        let cap = lines.capacity();
        let out = with_client(handle.0, |ctx| {
            let mut body = Vec::new();
            let dropped = ctx.logs.take_while(|l| {
                let need = l.message.len() + l.facility.len() + 32;
                if body.len() + need + 24 > cap {
                    return false;
                }
                let key = format!("{}|{}", l.level, l.facility);
                wire::push_pair(&mut body, key.as_bytes(), Some(l.message.as_bytes()));
                true
            });
            let mut out = format!("{dropped},").into_bytes();
            out.extend_from_slice(&body);
            Ok(out)
        })?;
        lines.write(&out)
    }

    /// Produces a batch of small records (the batch layout) and waits for every delivery
    /// report; answers `code,partition,offset,NAME;` per record in order.
    fn ProduceBatch(handle: InI64, records: InBytes, status: Status, results: OutBytes) {
        let p = PRODUCERS.get(handle.0)?;
        let out = produce_batch(&p, records.bytes()?, results.capacity())?;
        results.write(&out)
    }

    /// As `ProduceBatch`, with the batch and the outcomes as long strings.
    fn ProduceBatchLong(handle: InI64, records: InLong, status: Status, results: OutLong) {
        let p = PRODUCERS.get(handle.0)?;
        let out = produce_batch(&p, records.bytes()?, MAX_LONG_STRING)?;
        results.write(&out)
    }

    /// Discards whatever was staged for the next `Produce` (after an aborted sequence).
    fn ProducerStageReset(handle: InI64, status: Status) {
        PRODUCERS.get(handle.0)?.with_staged(|_| ());
        Ok(())
    }

    /// As `ProducerNew`, with the configuration as a long string (inline PEM and the like).
    fn ProducerNewLong(config: InLong, status: Status, handle: OutI64) {
        let producer = Producer::new(&spec_from(config.bytes()?)?)?;
        handle.set(PRODUCERS.insert(producer)?)
    }

    /// As `ConsumerNew`, with the configuration as a long string.
    fn ConsumerNewLong(config: InLong, topics: InBytes, status: Status, handle: OutI64) {
        let c = Consumer::new(&spec_from(config.bytes()?)?, topics.text("topics")?)?;
        handle.set(CONSUMERS.insert(c)?)
    }

    /// Settles the current record and polls the next in one call (one call per record):
    /// `outcome` 1 processed, 2 failed (with `error`), 0 nothing to settle (first call). On a
    /// failed settle nothing is polled. `nack` is the ConsumerNack outcome (0 when none);
    /// `record` the next frame, empty when none arrived within `timeout_ms`.
    fn ConsumerNext(
        handle: InI64, outcome: InI32, error: InBytes, timeout: InI32,
        status: Status, nack: OutI32, record: OutBytes
    ) {
        let c = CONSUMERS.get(handle.0)?;
        let text = String::from_utf8_lossy(error.bytes()?);
        if let Some(o) = c.settle_current(outcome.0, &text)? {
            nack.set(o as i32)?;
        }
        poll_into(&c, timeout.0, &mut record)
    }

    /// librdkafka's latest statistics JSON for a producer or consumer (emitted every
    /// `statistics.interval.ms`; empty until the first one), read in chunks: offset 0 takes
    /// a snapshot, later offsets read on in it; `total` is the snapshot's length. Secrets never
    /// appear in it.
    fn ClientStatistics(handle: InI64, offset: InI64, status: Status, total: OutI64, chunk: OutBytes) {
        let cap = chunk.capacity();
        let (len, part) = with_client(handle.0, |ctx| {
            let mut snap = ctx.stats_snapshot.lock();
            if offset.0 == 0 {
                *snap = ctx.stats.lock().clone().unwrap_or_default();
            }
            Ok((snap.len(), chunk_of(&snap, offset.0, cap)?.to_vec()))
        })?;
        total.set(len as i64)?;
        chunk.write(&part)
    }

    /// Per assigned partition: `topic,partition,committed,position,high watermark,lag;` from
    /// the latest statistics (needs `statistics.interval.ms` > 0; -1 = not known yet).
    fn ConsumerLag(handle: InI64, status: Status, summary: OutBytes) {
        let c = CONSUMERS.get(handle.0)?;
        let stats = c.context().stats.lock().clone().unwrap_or_default();
        summary.write(crate::client::lag_summary(&stats).as_bytes())
    }

    /// Settles the previous batch and polls the next, for many records per call. `outcomes`:
    /// one letter per record of the previous batch, in order — `1` processed, `2` failed, `3`
    /// not processed (empty for an empty or no previous batch); `errors`: pairs of the 0-based
    /// index of a failed record and its error text. After a failed or not-processed record
    /// the later records of that partition in the batch come again, in order, whatever their
    /// letter. Then polls up to `max` records (0: settle only), the first within `timeout_ms`;
    /// `records` holds `count` record frames back to back; a record whose fields did not all
    /// fit ends the batch and is the current record for the ReadField entries. Answers, of the
    /// settled batch, how many failures are redelivered, went to the dead-letter topic or
    /// were given up (`dead`), and were discarded (partition moved). Wrong outcomes are
    /// refused before anything is settled.
    fn ConsumerBatch(
        handle: InI64, outcomes: InBytes, errors: InBytes, max: InI32, timeout: InI32,
        status: Status, count: OutI32, redelivered: OutI32, dead: OutI32, discarded: OutI32, records: OutBytes
    ) {
        let c = CONSUMERS.get(handle.0)?;
        let max = usize::try_from(max.0).map_err(|_| BridgeError::bad_argument(format!("max {} is negative", max.0)))?;
        let wait = timeout_ms(timeout.0)?;
        let texts = wire::decode_pairs(errors.bytes()?)?
            .into_iter()
            .map(|(k, v)| {
                let i = std::str::from_utf8(k).ok().and_then(|k| k.parse::<usize>().ok()).ok_or_else(|| {
                    BridgeError::bad_argument("an errors key is not a record index (0-based, decimal)")
                })?;
                Ok((i, String::from_utf8_lossy(v.unwrap_or_default())))
            })
            .collect::<Result<Vec<_>>>()?;
        let settled = c.settle_batch(outcomes.bytes()?, &texts)?;
        redelivered.set(settled.redelivered as i32)?;
        dead.set((settled.dead_lettered + settled.given_up) as i32)?;
        discarded.set(settled.discarded as i32)?;
        let cap = records.capacity();
        records.fill(|buf| {
            let mut out = wire::SliceOut::new(buf);
            let n = c.poll_batch(max, wait, cap, &mut out)?;
            count.set(n as i32)?;
            Ok(((), wire::FrameOut::len(&out)))
        })
    }

    /// Sends a batch of records (the batch layout) without waiting for their delivery, for
    /// bulk loads: answers the sequence number of the first record (the others follow in
    /// order, per producer) and how many were sent. Every record is checked first; a bad one
    /// fails the call with nothing sent. Collect the outcomes with `ProducerReports`.
    fn ProduceSend(handle: InI64, records: InBytes, status: Status, first: OutI64, count: OutI32) {
        let p = PRODUCERS.get(handle.0)?;
        let (f, n) = send_batch(&p, records.bytes()?)?;
        first.set(f as i64)?;
        count.set(n as i32)
    }

    /// As `ProduceSend`, with the batch as a long string.
    fn ProduceSendLong(handle: InI64, records: InLong, status: Status, first: OutI64, count: OutI32) {
        let p = PRODUCERS.get(handle.0)?;
        let (f, n) = send_batch(&p, records.bytes()?)?;
        first.set(f as i64)?;
        count.set(n as i32)
    }

    /// Collects the outcomes of records sent with `ProduceSend`: waits up to `timeout_ms` for
    /// all of them (records lingering in librdkafka go out at once), then answers how many
    /// were delivered since the last call, how many are still in flight, and the failures,
    /// oldest first, as `sequence,code,NAME;` (as many as fit the reply; the rest come with
    /// the next call). Undelivered records are never dropped silently: a failure stays until
    /// collected, and `ProducerClose` counts the uncollected ones as undelivered.
    fn ProducerReports(
        handle: InI64, timeout: InI32, status: Status, delivered: OutI64, in_flight: OutI64, failures: OutBytes
    ) {
        let p = PRODUCERS.get(handle.0)?;
        let r = p.reports(timeout_ms(timeout.0)?, failures.capacity() / OUTCOME_MAX);
        let mut out = Vec::with_capacity(r.failures.len() * 32);
        for (seq, e) in &r.failures {
            wire::push_failure(&mut out, *seq, e.code, &e.name);
        }
        delivered.set(r.delivered as i64)?;
        in_flight.set(r.in_flight as i64)?;
        failures.write(&out)
    }

    /// As `Produce`, with the value as a long string (up to 3,641,144 bytes): a large record
    /// in one call, its value read straight from the IRIS string (no staging copy).
    fn ProduceLong(
        handle: InI64, topic: InBytes, partition: InI32, flags: InI32, timestamp: InI64,
        key: InBytes, value: InLong, headers: InBytes,
        status: Status, out_partition: OutI32, out_offset: OutI64
    ) {
        let p = PRODUCERS.get(handle.0)?;
        let delivered = produce_one(&p, topic.text("topic"), partition.0, flags.0, timestamp.0, key.bytes(), value.bytes(), headers.bytes())?;
        out_partition.set(delivered.partition)?;
        out_offset.set(delivered.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_panics_into_errors() {
        let r = guard("T", || panic!("boom"));
        assert_eq!(r, Err(crate::error::codes::PANIC));
        let e = super::super::last_error().unwrap();
        assert!(e.message.contains("boom"), "{e}");
    }

    #[test]
    fn descriptors_follow_parameter_types() {
        let t = super::super::table_spec();
        let produce = t.iter().find(|e| e.name == "Produce").unwrap();
        assert_eq!(produce.descriptor, "8ibii8ibbbPP8P");
    }
}
