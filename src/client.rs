//! What producers and consumers share: the rdkafka client context that collects librdkafka's
//! logs and errors (secrets redacted) for the host to read, instead of printing them.

use std::collections::VecDeque;

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::config::Redactor;
use crate::error::BridgeError;

/// How many log lines a client keeps for the host before dropping the oldest.
pub const LOG_CAPACITY: usize = 1000;

/// One line of librdkafka's log or error stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// syslog level: 0 emergency ... 3 error, 4 warning, 6 info, 7 debug.
    pub level: i32,
    /// librdkafka facility (`FAIL`, `SASL`, ...) or `ERROR` for error events.
    pub facility: String,
    /// The text, with secrets replaced by `***`.
    pub message: String,
}

/// A bounded queue of log lines with a count of the lines it had to drop.
#[derive(Debug, Default)]
pub struct LogSink {
    lines: Mutex<(VecDeque<LogLine>, u64)>,
}

impl LogSink {
    fn push(&self, line: LogLine) {
        let mut g = self.lines.lock();
        if g.0.len() >= LOG_CAPACITY {
            g.0.pop_front();
            g.1 += 1;
        }
        g.0.push_back(line);
    }

    /// Hands queued lines, oldest first, to `take` while it accepts them (a line it refuses
    /// stays queued); returns the number of lines dropped (overflow) since the last call.
    pub fn take_while(&self, mut take: impl FnMut(&LogLine) -> bool) -> u64 {
        let mut g = self.lines.lock();
        let dropped = std::mem::take(&mut g.1);
        while g.0.front().is_some_and(&mut take) {
            g.0.pop_front();
        }
        dropped
    }
}

/// Implements rdkafka's `ClientContext` for a context type with a `base: BridgeContext`
/// field by handing logs, errors and statistics to it.
macro_rules! delegate_client_context {
    ($ctx:ty) => {
        impl rdkafka::client::ClientContext for $ctx {
            fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
                rdkafka::client::ClientContext::log(&self.base, level, fac, msg)
            }
            fn stats_raw(&self, statistics: &[u8]) {
                rdkafka::client::ClientContext::stats_raw(&self.base, statistics)
            }
            fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
                rdkafka::client::ClientContext::error(&self.base, error, reason)
            }
        }
    };
}
pub(crate) use delegate_client_context;

/// The client context of every bridge client.
pub struct BridgeContext {
    /// Knows the client's secrets.
    pub redactor: Redactor,
    /// librdkafka's logs and errors, for the host.
    pub logs: LogSink,
    /// The last error event librdkafka raised on its own threads.
    pub last_error: Mutex<Option<BridgeError>>,
    /// librdkafka's latest statistics JSON (with `statistics.interval.ms` > 0).
    pub stats: Mutex<Option<Vec<u8>>>,
    /// The statistics being read in chunks by the host.
    pub stats_snapshot: Mutex<Vec<u8>>,
}

impl BridgeContext {
    /// A context that redacts with `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        BridgeContext { redactor, logs: LogSink::default(), last_error: Mutex::new(None), stats: Mutex::new(None), stats_snapshot: Mutex::new(Vec::new()) }
    }
}

impl BridgeContext {
    /// Logs a warning of the bridge itself (facility `BRIDGE`) for the host's Event Log.
    pub fn warn(&self, text: &str) {
        let message = self.redactor.redact(text);
        tracing::warn!(target: "iriskafka", "{message}");
        self.logs.push(LogLine { level: 4, facility: "BRIDGE".to_owned(), message });
    }

    /// Logs information of the bridge itself (facility `BRIDGE`, shown as trace).
    pub fn info(&self, text: &str) {
        let message = self.redactor.redact(text);
        tracing::info!(target: "iriskafka", "{message}");
        self.logs.push(LogLine { level: 6, facility: "BRIDGE".to_owned(), message });
    }

    /// Logs an error of the bridge itself (facility `BRIDGE`).
    pub fn log_error(&self, text: &str) {
        let message = self.redactor.redact(text);
        tracing::error!(target: "iriskafka", "{message}");
        self.logs.push(LogLine { level: 3, facility: "BRIDGE".to_owned(), message });
    }

    /// Records a client error (already redacted) for the host: in the log and as last error.
    pub fn note_error(&self, e: BridgeError) {
        tracing::warn!(target: "librdkafka", "{e}");
        self.logs.push(LogLine { level: 3, facility: "ERROR".to_owned(), message: e.to_string() });
        *self.last_error.lock() = Some(e);
    }
}

impl ClientContext for BridgeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let message = self.redactor.redact(log_message);
        tracing::debug!(target: "librdkafka", facility = fac, "{message}");
        self.logs.push(LogLine { level: level as i32, facility: fac.to_owned(), message });
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note_error(BridgeError::from_kafka(&error, reason).redacted(&self.redactor));
    }

    fn stats_raw(&self, statistics: &[u8]) {
        *self.stats.lock() = Some(statistics.to_vec());
    }
}

/// Per-partition consumer lag from a statistics JSON: `topic,partition,committed,position,
/// high watermark,lag;` for every partition with a known position (-1 = unknown).
pub fn lag_summary(stats: &[u8]) -> String {
    let mut out = String::new();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(stats) else { return out };
    let Some(topics) = v.get("topics").and_then(|t| t.as_object()) else { return out };
    for (topic, t) in topics {
        let Some(parts) = t.get("partitions").and_then(|p| p.as_object()) else { continue };
        for (p, pv) in parts {
            let Ok(partition) = p.parse::<i32>() else { continue };
            if partition < 0 {
                continue;
            }
            if pv.get("fetch_state").and_then(|s| s.as_str()).is_none_or(|s| s == "none") {
                continue; // not assigned to this consumer
            }
            let n = |k: &str| pv.get(k).and_then(|x| x.as_i64()).unwrap_or(-1);
            out.push_str(&format!(
                "{topic},{partition},{},{},{},{};",
                n("committed_offset"),
                n("app_offset"),
                n("hi_offset"),
                n("consumer_lag")
            ));
        }
    }
    out
}
