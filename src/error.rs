//! Errors as the bridge reports them: a Kafka (librdkafka) error code with its symbolic name,
//! text and retriable/fatal classification, or one of the bridge's own codes.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// The bridge's own error codes. They lie far below librdkafka's local codes (which end near
/// -200) so that a code alone tells where an error came from.
pub mod codes {
    /// A handle that is closed, stale, of the wrong kind or never existed.
    pub const BAD_HANDLE: i32 = -1000;
    /// An argument that is malformed (bad encoding, out-of-range number, null pointer).
    pub const BAD_ARGUMENT: i32 = -1001;
    /// A configuration key that librdkafka does not know, or a value it rejects.
    pub const CONFIG: i32 = -1002;
    /// A panic inside the library, caught before it reached the caller.
    pub const PANIC: i32 = -1003;
    /// A call that needs a current record (read a field, ack) when there is none.
    pub const NO_RECORD: i32 = -1004;
    /// Long strings (`j`/`J`) were used but the host gave no usable export table.
    pub const LONG_STRINGS_UNAVAILABLE: i32 = -1005;
    /// A value larger than the transfer method can carry.
    pub const TOO_LARGE: i32 = -1006;
}

/// An error with everything a caller needs to decide what to do: the numeric code
/// (librdkafka's `rd_kafka_resp_err_t` or one of [`codes`]), its symbolic name
/// (`MSG_SIZE_TOO_LARGE`), a human text, and whether retrying may help or the client is dead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} ({code}): {message}")]
pub struct BridgeError {
    /// librdkafka error code, or one of [`codes`].
    pub code: i32,
    /// Symbolic name without the leading underscores librdkafka uses for local errors.
    pub name: String,
    /// Human-readable text; never contains a secret.
    pub message: String,
    /// Retrying the same operation later may succeed.
    pub retriable: bool,
    /// The client is unusable and must be closed and recreated.
    pub fatal: bool,
}

/// Result type of the bridge.
pub type Result<T, E = BridgeError> = std::result::Result<T, E>;

impl BridgeError {
    fn bridge(code: i32, name: &str, message: impl Into<String>) -> Self {
        BridgeError { code, name: name.to_owned(), message: message.into(), retriable: false, fatal: false }
    }

    /// A closed, stale, wrong-kind or invented handle.
    pub fn bad_handle(message: impl Into<String>) -> Self {
        Self::bridge(codes::BAD_HANDLE, "BRIDGE_BAD_HANDLE", message)
    }

    /// A malformed argument.
    pub fn bad_argument(message: impl Into<String>) -> Self {
        Self::bridge(codes::BAD_ARGUMENT, "BRIDGE_BAD_ARGUMENT", message)
    }

    /// A configuration key or value librdkafka rejects.
    pub fn config(message: impl Into<String>) -> Self {
        Self::bridge(codes::CONFIG, "BRIDGE_CONFIG", message)
    }

    /// A panic caught at the boundary.
    pub fn panic(message: impl Into<String>) -> Self {
        Self::bridge(codes::PANIC, "BRIDGE_PANIC", message)
    }

    /// No current record for a call that needs one.
    pub fn no_record(message: impl Into<String>) -> Self {
        Self::bridge(codes::NO_RECORD, "BRIDGE_NO_RECORD", message)
    }

    /// Long strings cannot be used with this host.
    pub fn long_strings_unavailable(message: impl Into<String>) -> Self {
        Self::bridge(codes::LONG_STRINGS_UNAVAILABLE, "BRIDGE_LONG_STRINGS_UNAVAILABLE", message)
    }

    /// A value too large for the chosen transfer.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::bridge(codes::TOO_LARGE, "BRIDGE_TOO_LARGE", message)
    }

    /// An error from a librdkafka code, with `context` saying what was being done.
    pub fn from_code(code: RDKafkaErrorCode, context: &str) -> Self {
        let raw = code as i32;
        let text = code.to_string();
        let message = if context.is_empty() { text } else { format!("{context}: {text}") };
        BridgeError {
            code: raw,
            name: error_name(raw),
            message,
            retriable: is_retriable(code),
            fatal: code == RDKafkaErrorCode::Fatal,
        }
    }

    /// Converts an rdkafka error, keeping its librdkafka code where it has one.
    pub fn from_kafka(err: &KafkaError, context: &str) -> Self {
        match err {
            KafkaError::Transaction(e) => {
                let mut b = Self::from_code(e.code(), context);
                b.message = format!("{context}: {}", e.string());
                b.retriable = e.is_retriable();
                b.fatal = e.is_fatal();
                b
            }
            KafkaError::ClientConfig(_, desc, key, _value) => {
                // Never echo the value: it may be a password.
                Self::config(format!("{context}: configuration key \"{key}\": {}", strip_value(desc)))
            }
            KafkaError::ClientCreation(text) => Self::config(format!("{context}: {text}")),
            _ => match err.rdkafka_error_code() {
                Some(code) => Self::from_code(code, context),
                None => BridgeError {
                    code: RDKafkaErrorCode::Fail as i32,
                    name: error_name(RDKafkaErrorCode::Fail as i32),
                    message: format!("{context}: {err}"),
                    retriable: false,
                    fatal: false,
                },
            },
        }
    }

    /// Replaces every secret in the message by `***`.
    pub fn redacted(mut self, redactor: &crate::config::Redactor) -> Self {
        self.message = redactor.redact(&self.message);
        self
    }
}

/// librdkafka's config error texts quote the rejected value (`Invalid value "x" for ...`);
/// drop any quoted value so that a secret can never leak through them.
fn strip_value(desc: &str) -> String {
    if let Some(start) = desc.find("value \"") {
        if let Some(end_rel) = desc[start + 7..].find('"') {
            let mut s = desc[..start + 5].to_owned();
            s.push_str(&desc[start + 7 + end_rel + 1..]);
            return s;
        }
    }
    desc.to_owned()
}

/// The symbolic name of a librdkafka or bridge error code (`MSG_SIZE_TOO_LARGE`,
/// `TRANSPORT`, `BRIDGE_BAD_HANDLE`).
pub fn error_name(code: i32) -> String {
    let name = match code {
        codes::BAD_HANDLE => "BRIDGE_BAD_HANDLE".to_owned(),
        codes::BAD_ARGUMENT => "BRIDGE_BAD_ARGUMENT".to_owned(),
        codes::CONFIG => "BRIDGE_CONFIG".to_owned(),
        codes::PANIC => "BRIDGE_PANIC".to_owned(),
        codes::NO_RECORD => "BRIDGE_NO_RECORD".to_owned(),
        codes::LONG_STRINGS_UNAVAILABLE => "BRIDGE_LONG_STRINGS_UNAVAILABLE".to_owned(),
        codes::TOO_LARGE => "BRIDGE_TOO_LARGE".to_owned(),
        _ => crate::boundary::sys::rdkafka_err_name(code),
    };
    name.trim_start_matches('_').to_owned()
}

/// Whether retrying an operation that failed with `code` may succeed: the Kafka protocol's
/// retriable errors plus librdkafka's transient local ones.
pub fn is_retriable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | Resolve
            | MessageTimedOut
            | AllBrokersDown
            | OperationTimedOut
            | QueueFull
            | WaitingForCoordinator
            | PartitionEOF
            | UnknownPartition
            | Outdated
            | TimedOutQueue
            | NoOffset
            | InProgress
            | Retry
            | UnknownTopicOrPartition
            | LeaderNotAvailable
            | NotLeaderForPartition
            | RequestTimedOut
            | NetworkException
            | CoordinatorLoadInProgress
            | CoordinatorNotAvailable
            | NotCoordinator
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | NotController
            | KafkaStorageError
            | FetchSessionIdNotFound
            | InvalidFetchSessionEpoch
            | ListenerNotFound
            | FencedLeaderEpoch
            | UnknownLeaderEpoch
            | OffsetNotAvailable
            | PreferredLeaderNotAvailable
            | EligibleLeadersNotAvailable
            | ElectionNotNeeded
            | RebalanceInProgress
            | ThrottlingQuotaExceeded
            | UnstableOffsetCommit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_classes() {
        let e = BridgeError::from_code(RDKafkaErrorCode::MessageSizeTooLarge, "produce");
        assert_eq!(e.name, "MSG_SIZE_TOO_LARGE");
        assert_eq!(e.code, 10);
        assert!(!e.retriable && !e.fatal);
        let e = BridgeError::from_code(RDKafkaErrorCode::BrokerTransportFailure, "");
        assert_eq!(e.name, "TRANSPORT");
        assert!(e.retriable);
        assert_eq!(BridgeError::from_code(RDKafkaErrorCode::Fatal, "").fatal, true);
        assert_eq!(error_name(codes::BAD_HANDLE), "BRIDGE_BAD_HANDLE");
    }

    #[test]
    fn config_errors_drop_values() {
        assert_eq!(
            strip_value("Invalid value \"hunter2\" for configuration property \"x\""),
            "Invalid value for configuration property \"x\""
        );
    }
}
