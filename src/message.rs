//! Records as the bridge moves them: what a host asks to produce and what a consumer hands out.

use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};

use crate::error::{BridgeError, Result};
use crate::wire;

/// A record to produce, borrowing its bytes from the caller.
#[derive(Debug, Clone, Default)]
pub struct ProduceRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Explicit partition; `None` lets the partitioner choose by key.
    pub partition: Option<i32>,
    /// Key; `None` is a null key (not the same as an empty key).
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers in order; names may repeat, values may be null.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// Create time in ms since the epoch; `None` lets librdkafka stamp it.
    pub timestamp: Option<i64>,
}

impl<'a> ProduceRecord<'a> {
    /// Parses a headers blob (pairs layout) into header names and values.
    pub fn parse_headers(blob: &'a [u8]) -> Result<Vec<(&'a str, Option<&'a [u8]>)>> {
        wire::decode_pairs(blob)?
            .into_iter()
            .map(|(k, v)| {
                let name = std::str::from_utf8(k)
                    .map_err(|_| BridgeError::bad_argument("a header name is not valid UTF-8"))?;
                Ok((name, v))
            })
            .collect()
    }

    /// The headers in rdkafka's form, or `None` when there are none.
    pub(crate) fn owned_headers(&self) -> Option<OwnedHeaders> {
        if self.headers.is_empty() {
            return None;
        }
        let mut h = OwnedHeaders::new_with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            h = h.insert(rdkafka::message::Header { key: name, value: *value });
        }
        Some(h)
    }
}

/// A consumed record, owned, with every field the bridge reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (create or log-append time) in ms since the epoch.
    pub timestamp: Option<i64>,
    /// Key; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// Headers in the pairs layout of [`wire`].
    pub headers_blob: Vec<u8>,
}

impl ConsumedRecord {
    /// Copies a message out of librdkafka's buffers.
    pub fn from_message(m: &BorrowedMessage<'_>) -> Self {
        let mut headers_blob = Vec::new();
        if let Some(h) = m.headers() {
            for hd in h.iter() {
                wire::push_pair(&mut headers_blob, hd.key.as_bytes(), hd.value);
            }
        }
        ConsumedRecord {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers_blob,
        }
    }

    /// The bytes of a field by number ([`wire::field`]); null reads as empty.
    pub fn field(&self, field: i32) -> Result<&[u8]> {
        match field {
            wire::field::KEY => Ok(self.key.as_deref().unwrap_or_default()),
            wire::field::VALUE => Ok(self.value.as_deref().unwrap_or_default()),
            wire::field::HEADERS => Ok(&self.headers_blob),
            _ => Err(BridgeError::bad_argument(format!("unknown field number {field} (1 key, 2 value, 3 headers)"))),
        }
    }
}
