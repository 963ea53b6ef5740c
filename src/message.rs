//! Records as the bridge moves them: what a host asks to produce and what a consumer hands out.

use crate::boundary::sys::Fetched;

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
}

/// A consumed record's fields, borrowed (from librdkafka's buffers or a [`ConsumedRecord`]):
/// what a record frame is encoded from, so a record crosses the boundary without an
/// intermediate copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordView<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in ms since the epoch.
    pub timestamp: Option<i64>,
    /// Key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` for a null value.
    pub value: Option<&'a [u8]>,
    /// Headers in the pairs layout of [`wire`].
    pub headers: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Views a message in librdkafka's buffers; its headers (unless `with_headers` is off)
    /// are encoded into `headers` (cleared first; a buffer the caller reuses).
    pub fn of_message(m: &'a Fetched<'_>, headers: &'a mut Vec<u8>, with_headers: bool) -> Self {
        Self::of_message_in(m, m.topic(), headers, with_headers)
    }

    /// As [`RecordView::of_message`], with the message's topic name already known.
    pub fn of_message_in(m: &'a Fetched<'_>, topic: &'a str, headers: &'a mut Vec<u8>, with_headers: bool) -> Self {
        headers.clear();
        if with_headers {
            m.for_each_header(|name, value| wire::push_pair(headers, name, value));
        }
        RecordView {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp(),
            key: m.key(),
            value: m.value(),
            headers,
        }
    }

    /// The bytes of a field by number ([`wire::field`]); null reads as empty.
    pub fn field(&self, field: i32) -> Result<&'a [u8]> {
        match field {
            wire::field::KEY => Ok(self.key.unwrap_or_default()),
            wire::field::VALUE => Ok(self.value.unwrap_or_default()),
            wire::field::HEADERS => Ok(self.headers),
            _ => Err(BridgeError::bad_argument(format!("unknown field number {field} (1 key, 2 value, 3 headers)"))),
        }
    }

    /// Copies the record out of the borrowed buffers into `spare`'s buffers (a record no
    /// longer used), so that a large value is copied into memory already mapped rather than
    /// a fresh allocation the allocator may have to fault in page by page.
    pub fn to_owned_record_in(&self, spare: Option<ConsumedRecord>) -> ConsumedRecord {
        let Some(mut r) = spare else { return self.to_owned_record() };
        let refill = |buf: Option<Vec<u8>>, bytes: &[u8]| {
            let mut v = buf.unwrap_or_default();
            v.clear();
            v.extend_from_slice(bytes);
            v
        };
        r.topic.clear();
        r.topic.push_str(self.topic);
        (r.partition, r.offset, r.timestamp) = (self.partition, self.offset, self.timestamp);
        r.key = self.key.map(|k| refill(r.key.take(), k));
        r.value = self.value.map(|v| refill(r.value.take(), v));
        r.headers_blob = refill(Some(std::mem::take(&mut r.headers_blob)), self.headers);
        r
    }

    /// Copies the record out of the borrowed buffers.
    pub fn to_owned_record(&self) -> ConsumedRecord {
        ConsumedRecord {
            topic: self.topic.to_owned(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers_blob: self.headers.to_vec(),
        }
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
    /// The record as a view.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers_blob,
        }
    }

    /// The bytes of a field by number ([`wire::field`]); null reads as empty.
    pub fn field(&self, field: i32) -> Result<&[u8]> {
        self.view().field(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy into a spare record's buffers is the same record as a fresh copy, whatever the
    /// spare held (null and non-null fields both ways).
    #[test]
    fn copies_into_a_spare_match_fresh_copies() {
        let rec = |key: Option<&[u8]>, value: Option<&[u8]>, headers: &[u8], offset| ConsumedRecord {
            topic: format!("t{offset}"),
            partition: offset as i32,
            offset,
            timestamp: (offset % 2 == 0).then_some(offset * 1000),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers_blob: headers.to_vec(),
        };
        let big = vec![7u8; 100 * 1024];
        let shapes = [
            rec(None, None, b"", 1),
            rec(Some(b"k"), Some(&big), b"1,1,ab", 2),
            rec(Some(b""), None, b"", 3),
            rec(None, Some(b"v"), b"2,-1,hh", 4),
        ];
        for spare in &shapes {
            for want in &shapes {
                let got = want.view().to_owned_record_in(Some(spare.clone()));
                assert_eq!(&got, want);
            }
        }
        assert_eq!(&shapes[1].view().to_owned_record_in(None), &shapes[1]);
    }
}
