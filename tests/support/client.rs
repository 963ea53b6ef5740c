//! A Rust rendering of what the ObjectScript adapters do with the table: build the argument
//! layouts, call entries through the host emulator, move large fields in chunks or long
//! strings, and turn a non-zero status into the `LastError` details.
#![allow(dead_code)]

use iriskafka::wire::{self, field};

use super::zfhost::{Arg, HostError, ZfHost};

/// Produce flags, as the generated include gives them to ObjectScript.
pub use iriskafka::boundary::produce_flags as flags;

/// An error as `LastError` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZfError {
    pub code: i64,
    pub retriable: bool,
    pub fatal: bool,
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for ZfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.message)
    }
}
impl std::error::Error for ZfError {}

/// How fields too large for one call cross the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Counted strings in chunks (works on every IRIS).
    Chunks,
    /// Long strings (`j`/`J`).
    Long,
}

/// A record to produce.
#[derive(Debug, Clone, Default)]
pub struct Rec {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

/// A consumed record with every field read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// How many entry calls it took to receive the record.
    pub calls: usize,
}

/// What a `ConsumerBatch` settle reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSettle {
    /// Failures redelivered after a backoff.
    pub redelivered: i64,
    /// Failures dead-lettered or given up.
    pub dead: i64,
    /// Records whose partition moved (or that were settled already).
    pub discarded: i64,
}

/// The library as one IRIS job uses it.
pub struct Bridge {
    pub host: ZfHost,
    pub transfer: Transfer,
}

/// One chunk of a staged field per `ProducerStage` call.
pub const STAGE_CHUNK: usize = 32_000;
/// Largest total of topic, key, value and headers sent in one `Produce` call.
pub const ONE_CALL_LIMIT: usize = 32_000;

fn ints(reply: &super::zfhost::Reply) -> Vec<i64> {
    reply.outputs.iter().filter_map(|o| if let super::zfhost::Out::Int(v) = o { Some(*v) } else { None }).collect()
}

impl Bridge {
    pub fn new(host: ZfHost) -> Self {
        Bridge { host, transfer: Transfer::Chunks }
    }

    /// Calls an entry and checks its status (the first output); returns the reply.
    pub fn call(&self, name: &str, args: &[Arg<'_>]) -> Result<super::zfhost::Reply, ZfError> {
        let reply = self.host.call(name, args).map_err(|e: HostError| ZfError {
            code: 0,
            retriable: false,
            fatal: false,
            name: "HOST".into(),
            message: e.to_string(),
        })?;
        let status = reply.outputs.first().map(|o| o.int()).unwrap_or(0);
        if status != 0 {
            let mut e = self.last_error();
            assert_eq!(e.code, status, "LastError agrees with the status");
            e.code = status;
            return Err(e);
        }
        Ok(reply)
    }

    /// `LastError`, parsed as the ObjectScript does with `$Piece`.
    pub fn last_error(&self) -> ZfError {
        let r = self.host.call("LastError", &[]).expect("LastError callable");
        let text = String::from_utf8_lossy(r.outputs[0].bytes()).into_owned();
        let mut parts = text.splitn(5, ',');
        let code = parts.next().unwrap_or("0").parse().unwrap_or(0);
        let retriable = parts.next() == Some("1");
        let fatal = parts.next() == Some("1");
        let name = parts.next().unwrap_or("").to_owned();
        let message = parts.next().unwrap_or("").to_owned();
        ZfError { code, retriable, fatal, name, message }
    }

    pub fn pairs(cfg: &[(&str, &str)]) -> Vec<u8> {
        wire::encode_pairs(cfg.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_bytes()))))
    }

    pub fn producer_new(&self, cfg: &[(&str, &str)]) -> Result<i64, ZfError> {
        let blob = Self::pairs(cfg);
        Ok(self.call("ProducerNew", &[Arg::Bytes(&blob)])?.outputs[1].int())
    }

    fn stage(&self, h: i64, f: i32, data: &[u8]) -> Result<usize, ZfError> {
        let mut calls = 0;
        match self.transfer {
            Transfer::Chunks => {
                for chunk in data.chunks(STAGE_CHUNK) {
                    self.call("ProducerStage", &[h.into(), f.into(), Arg::Bytes(chunk)])?;
                    calls += 1;
                }
            }
            Transfer::Long => {
                for chunk in data.chunks(3_641_144) {
                    self.call("ProducerStageLong", &[h.into(), f.into(), Arg::Bytes(chunk)])?;
                    calls += 1;
                }
            }
        }
        Ok(calls)
    }

    /// Produces a record and waits for delivery: (partition, offset, entry calls used).
    pub fn produce(&self, h: i64, r: &Rec) -> Result<(i32, i64, usize), ZfError> {
        let mut fl = 0;
        let key = r.key.clone().unwrap_or_default();
        let value = r.value.clone().unwrap_or_default();
        let headers = wire::encode_pairs(r.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_deref())));
        if r.key.is_some() {
            fl |= flags::KEY;
        }
        if r.value.is_some() {
            fl |= flags::VALUE;
        }
        if r.timestamp.is_some() {
            fl |= flags::TIMESTAMP;
        }
        let mut calls = 0;
        let rest = r.topic.len() + key.len() + headers.len();
        let total = rest + value.len();
        let (mut k, mut v, mut hd): (&[u8], &[u8], &[u8]) = (&key, &value, &headers);
        // One call while everything fits; the value as a long string (ProduceLong) where long
        // strings are used; else the fields that do not fit are staged first.
        let mut entry = "Produce";
        if total > ONE_CALL_LIMIT && self.transfer == Transfer::Long && rest <= ONE_CALL_LIMIT && value.len() <= 3_641_144 {
            entry = "ProduceLong";
        } else if total > ONE_CALL_LIMIT {
            calls += self.stage(h, field::VALUE, &value)?;
            fl |= flags::VALUE_STAGED;
            v = &[];
            if rest > ONE_CALL_LIMIT {
                calls += self.stage(h, field::KEY, &key)?;
                calls += self.stage(h, field::HEADERS, &headers)?;
                fl |= flags::KEY_STAGED | flags::HEADERS_STAGED;
                k = &[];
                hd = &[];
            }
        }
        let reply = self.call(
            entry,
            &[
                h.into(),
                Arg::Bytes(r.topic.as_bytes()),
                r.partition.unwrap_or(-1).into(),
                fl.into(),
                r.timestamp.unwrap_or(0).into(),
                Arg::Bytes(k),
                Arg::Bytes(v),
                Arg::Bytes(hd),
            ],
        )?;
        let o = ints(&reply);
        Ok((o[1] as i32, o[2], calls + 1))
    }

    pub fn producer_close(&self, h: i64, timeout_ms: i32) -> Result<i64, ZfError> {
        Ok(self.call("ProducerClose", &[h.into(), timeout_ms.into()])?.outputs[1].int())
    }

    pub fn consumer_new(&self, cfg: &[(&str, &str)], topics: &str) -> Result<i64, ZfError> {
        let blob = Self::pairs(cfg);
        Ok(self.call("ConsumerNew", &[Arg::Bytes(&blob), Arg::Bytes(topics.as_bytes())])?.outputs[1].int())
    }

    fn read_field(&self, h: i64, f: i32, len: i64) -> Result<(Vec<u8>, usize), ZfError> {
        let entry = match self.transfer {
            Transfer::Long => "ConsumerReadFieldLong",
            Transfer::Chunks => "ConsumerReadField",
        };
        let mut out = Vec::with_capacity(len.max(0) as usize);
        let mut calls = 0;
        while (out.len() as i64) < len {
            let r = self.call(entry, &[h.into(), f.into(), (out.len() as i64).into()])?;
            calls += 1;
            let chunk = r.outputs[1].bytes();
            assert!(!chunk.is_empty(), "{entry} made no progress");
            out.extend_from_slice(chunk);
        }
        Ok((out, calls))
    }

    /// Polls one record and reads every field in full; `None` when nothing arrived.
    pub fn poll(&self, h: i64, timeout_ms: i32) -> Result<Option<Consumed>, ZfError> {
        let r = self.call("ConsumerPoll", &[h.into(), timeout_ms.into()])?;
        let frame = r.outputs[1].bytes();
        // The joined $ZF result is "status,frame": the ObjectScript takes the frame after the
        // first comma; check that both views agree.
        assert_eq!(&r.joined()[2..], frame, "joined output is status,frame");
        self.decode_frame(h, frame)
    }

    /// Decodes a record frame, reading the fields it left out.
    fn decode_frame(&self, h: i64, frame: &[u8]) -> Result<Option<Consumed>, ZfError> {
        if frame.is_empty() {
            return Ok(None);
        }
        let d = wire::decode_record_frame(frame).expect("valid frame");
        self.complete(h, d, 1).map(Some)
    }

    /// `ConsumerBatch`: settles the previous batch (`outcomes`, one letter per record;
    /// `errors` by 0-based index) and polls up to `max` records; the settle counts and the
    /// records with every field read in full (the batch's last record may need ReadField calls).
    pub fn batch(
        &self,
        h: i64,
        outcomes: &str,
        errors: &[(usize, &str)],
        max: i32,
        timeout_ms: i32,
    ) -> Result<(BatchSettle, Vec<Consumed>), ZfError> {
        let errs: Vec<(String, String)> = errors.iter().map(|(i, t)| (i.to_string(), t.to_string())).collect();
        let blob = wire::encode_pairs(errs.iter().map(|(i, t)| (i.as_bytes(), Some(t.as_bytes()))));
        let r = self.call(
            "ConsumerBatch",
            &[h.into(), Arg::Bytes(outcomes.as_bytes()), Arg::Bytes(&blob), max.into(), timeout_ms.into()],
        )?;
        let n = r.outputs[1].int() as usize;
        let settle = BatchSettle { redelivered: r.outputs[2].int(), dead: r.outputs[3].int(), discarded: r.outputs[4].int() };
        let frames = wire::decode_record_frames(r.outputs[5].bytes()).expect("valid frames");
        assert_eq!(frames.len(), n, "count matches the frames");
        let mut out = Vec::with_capacity(n);
        for (i, d) in frames.into_iter().enumerate() {
            // only the batch's last record may have fields left out
            let calls = if i == 0 { 1 } else { 0 };
            let whole = (d.key_len <= 0 || d.key.is_some()) && (d.value_len <= 0 || d.value.is_some()) && (d.headers_len <= 0 || d.headers.is_some());
            assert!(whole || i + 1 == n, "a record with fields left out ends the batch");
            out.push(self.complete(h, d, calls)?);
        }
        Ok((settle, out))
    }

    /// Completes a decoded frame: reads the fields it left out.
    fn complete(&self, h: i64, d: wire::DecodedFrame, calls: usize) -> Result<Consumed, ZfError> {
        let mut calls = calls;
        let mut get = |f: i32, inline: Option<Vec<u8>>, len: i64| -> Result<Option<Vec<u8>>, ZfError> {
            if let Some(b) = inline {
                return Ok(Some(b));
            }
            if len <= 0 {
                return Ok(Some(Vec::new()));
            }
            let (b, c) = self.read_field(h, f, len)?;
            calls += c;
            Ok(Some(b))
        };
        let key = get(field::KEY, d.key.clone(), d.key_len)?.filter(|_| d.key_len >= 0);
        let value = get(field::VALUE, d.value.clone(), d.value_len)?.filter(|_| d.value_len >= 0);
        let hblob = get(field::HEADERS, d.headers.clone(), d.headers_len)?.unwrap_or_default();
        let headers = wire::decode_pairs(&hblob)
            .expect("headers")
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), v.map(<[u8]>::to_vec)))
            .collect();
        Ok(Consumed {
            topic: d.topic,
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp,
            key,
            value,
            headers,
            calls,
        })
    }

    /// Polls until a record arrives or `total_ms` passes.
    pub fn poll_until(&self, h: i64, total_ms: u64) -> Result<Option<Consumed>, ZfError> {
        let end = std::time::Instant::now() + std::time::Duration::from_millis(total_ms);
        while std::time::Instant::now() < end {
            if let Some(r) = self.poll(h, 200)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    pub fn ack(&self, h: i64, topic: &str, partition: i32, offset: i64) -> Result<(), ZfError> {
        self.call("ConsumerAck", &[h.into(), Arg::Bytes(topic.as_bytes()), partition.into(), offset.into()])?;
        Ok(())
    }

    pub fn commit(&self, h: i64) -> Result<i64, ZfError> {
        Ok(self.call("ConsumerCommit", &[h.into()])?.outputs[1].int())
    }

    /// Reports a record failed; the outcome number (1 redeliver, 2 dead-lettered, 3 given up,
    /// 4 discarded).
    pub fn nack(&self, h: i64, topic: &str, partition: i32, offset: i64, error: &str) -> Result<i64, ZfError> {
        let r = self.call(
            "ConsumerNack",
            &[h.into(), Arg::Bytes(topic.as_bytes()), partition.into(), offset.into(), Arg::Bytes(error.as_bytes())],
        )?;
        Ok(r.outputs[1].int())
    }

    /// Seeks a partition (mode 0 offset, 1 timestamp, 2 beginning, 3 end).
    pub fn seek(&self, h: i64, topic: &str, partition: i32, mode: i32, value: i64) -> Result<i64, ZfError> {
        let r = self.call("ConsumerSeek", &[h.into(), Arg::Bytes(topic.as_bytes()), partition.into(), mode.into(), value.into()])?;
        Ok(r.outputs[1].int())
    }

    /// Drains a client's log lines: (dropped, [(level, facility, text)]).
    pub fn logs(&self, h: i64) -> Result<(i64, Vec<(i32, String, String)>), ZfError> {
        let mut all = Vec::new();
        let mut dropped = 0;
        loop {
            let r = self.call("ClientLogs", &[h.into()])?;
            let out = r.outputs[1].bytes();
            let comma = out.iter().position(|&b| b == b',').expect("dropped count");
            dropped += std::str::from_utf8(&out[..comma]).unwrap().parse::<i64>().unwrap();
            let pairs = wire::decode_pairs(&out[comma + 1..]).expect("log pairs");
            if pairs.is_empty() {
                return Ok((dropped, all));
            }
            for (k, v) in pairs {
                let k = String::from_utf8_lossy(k);
                let (level, fac) = k.split_once('|').unwrap();
                all.push((level.parse().unwrap(), fac.to_owned(), String::from_utf8_lossy(v.unwrap_or_default()).into_owned()));
            }
        }
    }

    /// Produces small records in one call; per record Ok((partition, offset)) or Err(name).
    /// `ProduceSend` (or `ProduceSendLong`): sends without waiting; (first sequence, count).
    pub fn produce_send(&self, h: i64, recs: &[Rec]) -> Result<(i64, i64), ZfError> {
        let entry = if self.transfer == Transfer::Long { "ProduceSendLong" } else { "ProduceSend" };
        let r = self.call(entry, &[h.into(), Arg::Bytes(&Self::batch_blob(recs))])?;
        Ok((r.outputs[1].int(), r.outputs[2].int()))
    }

    /// `ProducerReports`: (delivered since the last call, in flight, failures as
    /// (sequence, code, NAME)).
    pub fn producer_reports(&self, h: i64, timeout_ms: i32) -> Result<(i64, i64, Vec<(i64, i64, String)>), ZfError> {
        let r = self.call("ProducerReports", &[h.into(), timeout_ms.into()])?;
        let text = String::from_utf8(r.outputs[3].bytes().to_vec()).unwrap();
        let failures = text
            .split_terminator(';')
            .map(|f| {
                let v: Vec<&str> = f.splitn(3, ',').collect();
                (v[0].parse().unwrap(), v[1].parse().unwrap(), v[2].to_owned())
            })
            .collect();
        Ok((r.outputs[1].int(), r.outputs[2].int(), failures))
    }

    /// The batch layout of `recs`.
    pub fn batch_blob(recs: &[Rec]) -> Vec<u8> {
        let headers: Vec<Vec<u8>> =
            recs.iter().map(|r| wire::encode_pairs(r.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_deref())))).collect();
        let mut blob = Vec::new();
        for (r, hd) in recs.iter().zip(&headers) {
            let flags = (r.key.is_some() as i32) * flags::KEY
                | (r.value.is_some() as i32) * flags::VALUE
                | (r.timestamp.is_some() as i32) * flags::TIMESTAMP;
            wire::push_batch_record(
                &mut blob,
                &wire::BatchRecord {
                    topic: r.topic.as_bytes(),
                    partition: r.partition.unwrap_or(-1),
                    flags,
                    timestamp: r.timestamp.unwrap_or(0),
                    key: r.key.as_deref().unwrap_or_default(),
                    value: r.value.as_deref().unwrap_or_default(),
                    headers: hd,
                },
            );
        }
        blob
    }

    pub fn produce_batch(&self, h: i64, recs: &[Rec]) -> Result<Vec<Result<(i32, i64), String>>, ZfError> {
        let blob = Self::batch_blob(recs);
        let entry = if self.transfer == Transfer::Long { "ProduceBatchLong" } else { "ProduceBatch" };
        let r = self.call(entry, &[h.into(), Arg::Bytes(&blob)])?;
        let text = String::from_utf8(r.outputs[1].bytes().to_vec()).unwrap();
        Ok(text
            .split_terminator(';')
            .map(|o| {
                let f: Vec<&str> = o.split(',').collect();
                if f[0] == "0" {
                    Ok((f[1].parse().unwrap(), f[2].parse().unwrap()))
                } else {
                    Err(f[3].to_owned())
                }
            })
            .collect())
    }

    /// `ConsumerNext`: settles the current record (0 none, 1 ok, 2 failed) and polls the next;
    /// (nack outcome, next record with every field read in full).
    pub fn next(&self, h: i64, outcome: i32, error: &str, timeout_ms: i32) -> Result<(i64, Option<Consumed>), ZfError> {
        let r = self.call("ConsumerNext", &[h.into(), outcome.into(), Arg::Bytes(error.as_bytes()), timeout_ms.into()])?;
        let nack = r.outputs[1].int();
        let frame = r.outputs[2].bytes().to_vec();
        Ok((nack, self.decode_frame(h, &frame)?))
    }

    /// `ConsumerLag` rows: (topic, partition, committed, position, high, lag).
    pub fn lag(&self, h: i64) -> Result<Vec<(String, i32, i64, i64, i64, i64)>, ZfError> {
        let r = self.call("ConsumerLag", &[h.into()])?;
        let text = String::from_utf8(r.outputs[1].bytes().to_vec()).unwrap();
        Ok(text
            .split_terminator(';')
            .map(|row| {
                let f: Vec<&str> = row.rsplitn(6, ',').collect();
                (f[5].to_owned(), f[4].parse().unwrap(), f[3].parse().unwrap(), f[2].parse().unwrap(), f[1].parse().unwrap(), f[0].parse().unwrap())
            })
            .collect())
    }

    /// `ClientStatistics` JSON text.
    pub fn statistics(&self, h: i64) -> Result<String, ZfError> {
        let mut out = Vec::new();
        loop {
            let r = self.call("ClientStatistics", &[h.into(), (out.len() as i64).into()])?;
            let total = r.outputs[1].int() as usize;
            out.extend_from_slice(r.outputs[2].bytes());
            if out.len() >= total {
                return Ok(String::from_utf8(out).unwrap());
            }
        }
    }

    pub fn consumer_close(&self, h: i64) -> Result<(), ZfError> {
        self.call("ConsumerClose", &[h.into()])?;
        Ok(())
    }
}
