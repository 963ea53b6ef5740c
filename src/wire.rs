//! Byte layouts that cross the `$ZF` boundary, chosen so that ObjectScript builds and reads
//! them with `$Length`, `$Piece`, `$Find` and `$Extract` alone (no binary integer functions).
//!
//! **Pairs** (configuration, headers): a sequence of items, each
//! `<key length>,<value length>,<key bytes><value bytes>` with lengths in ASCII decimal and
//! a value length of `-1` for a null value.
//!
//! **Record frame** (a consumed record): eight ASCII decimal fields, each followed by `,`:
//! `partition,offset,timestamp,topicLen,keyLen,valueLen,headersLen,inline,` then the topic,
//! key, headers (pairs) and value bytes. `timestamp` is milliseconds since the epoch or `-1`;
//! `keyLen`/`valueLen` are `-1` for null. `inline` is a bit set saying which of key (1),
//! value (2) and headers (4) follow in the frame; a field that did not fit the reply is left
//! out and read with the ReadField entries.

use crate::error::{BridgeError, Result};
use crate::message::RecordView;

/// Field numbers used by the frame's `inline` bits and the ReadField/Stage entries.
pub mod field {
    /// The record key.
    pub const KEY: i32 = 1;
    /// The record value.
    pub const VALUE: i32 = 2;
    /// The record headers, in the pairs layout.
    pub const HEADERS: i32 = 3;

    /// The frame's `inline` bit for a field.
    pub const fn inline_bit(field: i32) -> u32 {
        1 << (field - 1)
    }
}

/// Room the eight header fields of a frame can take at most.
pub const FRAME_HEADER_MAX: usize = 8 * 21;

/// Reads a decimal number (an optional sign, at most 19 characters) and the comma after it.
fn parse_len(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let (v, next) = read_len(buf, *pos).ok_or_else(|| len_error(buf, *pos))?;
    *pos = next;
    Ok(v)
}

/// [`parse_len`] without the error: the number and the position after its comma, in one
/// pass and inlined (a produce batch has seven numbers per record).
#[inline(always)]
fn read_len(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    let rest = buf.get(pos..)?;
    let (neg, digits) = match rest.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut k = digits;
    let mut v: u64 = 0;
    while let Some(&c) = rest.get(k) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(d as u64);
        k += 1;
    }
    // At most 19 characters: the digits cannot have wrapped, only exceed i64.
    if rest.get(k) != Some(&b',') || k == digits || k > 19 || v > i64::MAX as u64 {
        return None;
    }
    Some((if neg { -(v as i64) } else { v as i64 }, pos + k + 1))
}

/// Why [`read_len`] refused the number at `start`: malformed, or no comma after it.
#[cold]
fn len_error(buf: &[u8], start: usize) -> BridgeError {
    if buf.get(start..).is_some_and(|rest| rest.contains(&b',')) {
        BridgeError::bad_argument(format!("bad length at byte {start}"))
    } else {
        BridgeError::bad_argument(format!("expected a length followed by ',' at byte {start}"))
    }
}

#[inline(always)]
fn take<'a>(buf: &'a [u8], pos: &mut usize, len: i64, what: &str) -> Result<&'a [u8]> {
    let s = usize::try_from(len).ok().and_then(|n| buf.get(*pos..pos.checked_add(n)?)).ok_or_else(|| take_error(len, what))?;
    *pos += s.len();
    Ok(s)
}

/// Why [`take`] refused: a negative length, or one past the end of the data.
#[cold]
fn take_error(len: i64, what: &str) -> BridgeError {
    match usize::try_from(len) {
        Err(_) => BridgeError::bad_argument(format!("negative {what} length")),
        Ok(len) => BridgeError::bad_argument(format!("{what} of {len} bytes runs past the end of the data")),
    }
}

/// A decoded pair: key and optional value, borrowed from the input.
pub type Pair<'a> = (&'a [u8], Option<&'a [u8]>);

/// Decodes a pairs blob.
pub fn decode_pairs(buf: &[u8]) -> Result<Vec<Pair<'_>>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let klen = parse_len(buf, &mut pos)?;
        let vlen = parse_len(buf, &mut pos)?;
        let key = take(buf, &mut pos, klen, "key")?;
        let value = if vlen == -1 { None } else { Some(take(buf, &mut pos, vlen, "value")?) };
        out.push((key, value));
    }
    Ok(out)
}

/// Appends one pair to a pairs blob.
pub fn push_pair(out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
    push_num(out, key.len() as i64);
    push_num(out, value.map_or(-1, |v| v.len() as i64));
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
}

/// Encodes pairs into a new blob.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = Pair<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        push_pair(&mut out, k, v);
    }
    out
}

/// Two decimal digits for each of 0..=99, for writing numbers a pair of digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `n` in decimal and a comma (a frame number).
fn push_num(out: &mut Vec<u8>, n: i64) {
    let mut nums = Numbers::<[u8; 21]>::new();
    nums.push(n);
    out.extend_from_slice(nums.as_bytes());
}

/// Frame numbers (`n,`) built on the stack, `N` bytes at most (21 per number), so that a
/// frame header is appended with one copy. 13-digit timestamps and growing offsets are in
/// every record frame, so they are written four digits per division.
struct Numbers<B> {
    buf: B,
    len: usize,
}

impl<const N: usize> Numbers<[u8; N]> {
    fn new() -> Self {
        Numbers { buf: [0; N], len: 0 }
    }
}

impl<B: AsMut<[u8]> + AsRef<[u8]>> Numbers<B> {
    #[inline(always)]
    fn push(&mut self, n: i64) {
        if (0..10).contains(&n) {
            // most frame numbers (partition, inline bits, short lengths) are one digit
            self.buf.as_mut()[self.len..self.len + 2].copy_from_slice(&[b'0' + n as u8, b',']);
            self.len += 2;
        } else {
            self.push_digits(n);
        }
    }

    /// Writes the digits straight into place, backwards from the last, four per division (the
    /// digit count is known first). Not through a scratch buffer moved into place afterwards:
    /// a wide load of bytes just written by narrow stores stalls the CPU until those stores
    /// retire (no store-to-load forwarding), which cost more than the digits themselves.
    fn push_digits(&mut self, n: i64) {
        let mut v = n.unsigned_abs();
        let start = self.len + usize::from(n < 0);
        // (the comma's place)
        let end = self.len + number_len(n) - 1;
        let buf = &mut self.buf.as_mut()[self.len..=end];
        let (start, mut i) = (start - self.len, end - self.len);
        if n < 0 {
            buf[0] = b'-';
        }
        buf[i] = b',';
        while v >= 10_000 {
            let r = (v % 10_000) as usize;
            v /= 10_000;
            let (hi, lo) = (r / 100 * 2, r % 100 * 2);
            buf[i - 4..i - 2].copy_from_slice(&DIGIT_PAIRS[hi..hi + 2]);
            buf[i - 2..i].copy_from_slice(&DIGIT_PAIRS[lo..lo + 2]);
            i -= 4;
        }
        let mut v = v as usize;
        if v >= 100 {
            let lo = v % 100 * 2;
            v /= 100;
            buf[i - 2..i].copy_from_slice(&DIGIT_PAIRS[lo..lo + 2]);
            i -= 2;
        }
        if v >= 10 {
            buf[i - 2..i].copy_from_slice(&DIGIT_PAIRS[v * 2..v * 2 + 2]);
            i -= 2;
        } else {
            i -= 1;
            buf[i] = b'0' + v as u8;
        }
        debug_assert_eq!(i, start);
        self.len = end + 1;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf.as_ref()[..self.len]
    }
}

/// The length of `n` written as a frame number: its digits, a sign when negative, the comma.
#[inline(always)]
fn number_len(n: i64) -> usize {
    usize::from(n < 0) + n.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1) + 1
}

/// Where record frames are written: a growing buffer, or a fixed one (the host's reply
/// buffer, written in place, which saves copying a whole batch once more).
pub trait FrameOut {
    /// How many bytes are written.
    fn len(&self) -> usize;
    /// Whether nothing is written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `bytes`; the writer keeps within the capacity it was given.
    fn put(&mut self, bytes: &[u8]);
    /// Lets `f` write up to `max` bytes in place after what is written; keeps the count it
    /// returns.
    fn put_with(&mut self, max: usize, f: impl FnOnce(&mut [u8]) -> usize);
    /// The written bytes.
    fn written_mut(&mut self) -> &mut [u8];
    /// Keeps the first `len` written bytes.
    fn truncate(&mut self, len: usize);
}

impl FrameOut for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_with(&mut self, max: usize, f: impl FnOnce(&mut [u8]) -> usize) {
        let len = self.len();
        self.resize(len + max, 0);
        let used = f(&mut self[len..]);
        self.truncate(len + used);
    }
    fn written_mut(&mut self) -> &mut [u8] {
        self
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

/// Frames written into a fixed buffer, from its start.
pub struct SliceOut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceOut<'a> {
    /// Writes into `buf`; its length is the capacity.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceOut { buf, len: 0 }
    }
}

impl FrameOut for SliceOut<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }
    fn put_with(&mut self, max: usize, f: impl FnOnce(&mut [u8]) -> usize) {
        let used = f(&mut self.buf[self.len..self.len + max]);
        self.len += used.min(max);
    }
    fn written_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// How a record fit its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFit {
    /// The frame's `inline` bits.
    pub inline: u32,
    /// Every field that has bytes is in the frame (none needs the ReadField entries).
    pub whole: bool,
}

/// Appends `rec` as a record frame to `out`, inlining key, headers and value in that order
/// of preference while the frame stays within `capacity` bytes; `None` (nothing written)
/// when even the header and the topic exceed it.
pub fn encode_record_frame(rec: &RecordView<'_>, capacity: usize, out: &mut impl FrameOut) -> Option<FrameFit> {
    let key_len = rec.key.map_or(0, <[u8]>::len);
    let value_len = rec.value.map_or(0, <[u8]>::len);
    let headers_len = rec.headers.len();
    let mut numbers = [
        rec.partition as i64,
        rec.offset,
        rec.timestamp.unwrap_or(-1),
        rec.topic.len() as i64,
        rec.key.map_or(-1, |k| k.len() as i64),
        rec.value.map_or(-1, |v| v.len() as i64),
        headers_len as i64,
        0, // the inline bits, one digit whatever they are
    ];
    let header_len: usize = numbers.iter().map(|&n| number_len(n)).sum();
    let mut room = capacity.checked_sub(header_len + rec.topic.len())?;
    let mut inline = 0;
    let mut whole = true;
    for (f, len) in [(field::KEY, key_len), (field::HEADERS, headers_len), (field::VALUE, value_len)] {
        if len <= room {
            room -= len;
            inline |= field::inline_bit(f);
        } else {
            whole = false;
        }
    }
    numbers[7] = inline as i64;
    // The header's digits go straight into place: built elsewhere and copied, they would be
    // read back right after their narrow stores, which stalls the CPU.
    out.put_with(header_len, |tail| {
        let mut header = Numbers { buf: tail, len: 0 };
        numbers.iter().for_each(|&n| header.push(n));
        header.len
    });
    out.put(rec.topic.as_bytes());
    if inline & field::inline_bit(field::KEY) != 0 {
        out.put(rec.key.unwrap_or_default());
    }
    if inline & field::inline_bit(field::HEADERS) != 0 {
        out.put(rec.headers);
    }
    if inline & field::inline_bit(field::VALUE) != 0 {
        out.put(rec.value.unwrap_or_default());
    }
    Some(FrameFit { inline, whole })
}

/// A record frame decoded (the inverse of [`encode_record_frame`]); used by tests and by any
/// Rust host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in ms, -1 when none.
    pub timestamp: i64,
    /// Topic.
    pub topic: String,
    /// Key length, -1 for null.
    pub key_len: i64,
    /// Value length, -1 for null.
    pub value_len: i64,
    /// Length of the headers blob.
    pub headers_len: i64,
    /// Which fields are inline.
    pub inline: u32,
    /// Key bytes if inline.
    pub key: Option<Vec<u8>>,
    /// Headers blob if inline.
    pub headers: Option<Vec<u8>>,
    /// Value bytes if inline.
    pub value: Option<Vec<u8>>,
}

/// Decodes a record frame.
pub fn decode_record_frame(buf: &[u8]) -> Result<DecodedFrame> {
    decode_frame_at(buf, &mut 0)
}

/// Decodes the record frames of a batch, back to back.
pub fn decode_record_frames(buf: &[u8]) -> Result<Vec<DecodedFrame>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        out.push(decode_frame_at(buf, &mut pos)?);
    }
    Ok(out)
}

fn decode_frame_at(buf: &[u8], at: &mut usize) -> Result<DecodedFrame> {
    let pos = at;
    let mut n = [0i64; 8];
    for slot in n.iter_mut() {
        *slot = parse_len(buf, pos)?;
    }
    let [partition, offset, timestamp, topic_len, key_len, value_len, headers_len, inline] = n;
    let topic = String::from_utf8_lossy(take(buf, pos, topic_len, "topic")?).into_owned();
    let inline = inline as u32;
    let mut get = |f: i32, len: i64, what: &str| -> Result<Option<Vec<u8>>> {
        if inline & field::inline_bit(f) != 0 {
            Ok(Some(take(buf, pos, len.max(0), what)?.to_vec()))
        } else {
            Ok(None)
        }
    };
    let key = get(field::KEY, key_len, "key")?;
    let headers = get(field::HEADERS, headers_len, "headers")?;
    let value = get(field::VALUE, value_len, "value")?;
    Ok(DecodedFrame {
        partition: partition as i32,
        offset,
        timestamp,
        topic,
        key_len,
        value_len,
        headers_len,
        inline,
        key,
        headers,
        value,
    })
}

/// One record of a produce batch, borrowed from the batch bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    /// Topic bytes (UTF-8).
    pub topic: &'a [u8],
    /// Partition, -1 for the partitioner.
    pub partition: i32,
    /// Produce flags (key / value present, timestamp set).
    pub flags: i32,
    /// Timestamp in ms (used when the flag says so).
    pub timestamp: i64,
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes.
    pub value: &'a [u8],
    /// Headers (pairs layout).
    pub headers: &'a [u8],
}

/// Decodes a produce batch: records of
/// `topicLen,partition,flags,timestamp,keyLen,valueLen,headersLen,` followed by the topic, key,
/// value and headers bytes.
pub fn decode_batch(buf: &[u8]) -> Result<Vec<BatchRecord<'_>>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let mut n = [0i64; 7];
        for slot in n.iter_mut() {
            let (v, next) = read_len(buf, pos).ok_or_else(|| len_error(buf, pos))?;
            *slot = v;
            pos = next;
        }
        let [topic_len, partition, flags, timestamp, key_len, value_len, headers_len] = n;
        let partition = i32::try_from(partition)
            .ok()
            .filter(|p| *p >= -1)
            .ok_or_else(|| BridgeError::bad_argument(format!("partition {partition} is invalid")))?;
        let flags = i32::try_from(flags).map_err(|_| BridgeError::bad_argument("bad flags"))?;
        out.push(BatchRecord {
            topic: take(buf, &mut pos, topic_len, "topic")?,
            partition,
            flags,
            timestamp,
            key: take(buf, &mut pos, key_len, "key")?,
            value: take(buf, &mut pos, value_len, "value")?,
            headers: take(buf, &mut pos, headers_len, "headers")?,
        });
    }
    Ok(out)
}

/// Appends one failure report of a record sent without waiting: `sequence,code,NAME;`.
pub fn push_failure(out: &mut Vec<u8>, seq: u64, code: i32, name: &str) {
    push_num(out, seq as i64);
    push_num(out, code as i64);
    out.extend_from_slice(name.as_bytes());
    out.push(b';');
}

/// Encodes one batch record (the inverse of [`decode_batch`]).
pub fn push_batch_record(out: &mut Vec<u8>, r: &BatchRecord<'_>) {
    push_num(out, r.topic.len() as i64);
    push_num(out, r.partition as i64);
    push_num(out, r.flags as i64);
    push_num(out, r.timestamp);
    push_num(out, r.key.len() as i64);
    push_num(out, r.value.len() as i64);
    push_num(out, r.headers.len() as i64);
    for part in [r.topic, r.key, r.value, r.headers] {
        out.extend_from_slice(part);
    }
}

/// Appends one batch outcome: `code,partition,offset,NAME;` (code 0 and name `OK` on success).
pub fn push_outcome(out: &mut Vec<u8>, code: i32, partition: i32, offset: i64, name: &str) {
    push_num(out, code as i64);
    push_num(out, partition as i64);
    push_num(out, offset);
    out.extend_from_slice(name.as_bytes());
    out.push(b';');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ConsumedRecord;

    #[test]
    fn numbers_are_written_as_decimal() {
        let mut probe: Vec<i64> = vec![0, 9, 10, 11, 99, 100, 101, 999, 1000, 1_764_000_000_000, i64::MAX, i64::MIN];
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            probe.push(x >> (x & 63).max(1));
        }
        for p in 0..19 {
            probe.extend([10i64.pow(p) - 1, 10i64.pow(p), 10i64.pow(p) + 1]);
        }
        let all: Vec<i64> = probe.iter().copied().chain(probe.iter().map(|n| n.saturating_neg())).collect();
        for &n in &all {
            let mut out = Vec::new();
            push_num(&mut out, n);
            assert_eq!(out.len(), number_len(n), "{n}");
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n},"));
        }
        // eight to a frame header, the longest ones included
        for chunk in all.chunks(8).chain([&[i64::MIN; 8][..]]) {
            let mut header = Numbers::<[u8; FRAME_HEADER_MAX]>::new();
            chunk.iter().for_each(|&n| header.push(n));
            assert_eq!(std::str::from_utf8(header.as_bytes()).unwrap(), chunk.iter().map(|n| format!("{n},")).collect::<String>());
        }
    }

    /// The one-pass number reader answers what the earlier find-the-comma-and-parse one did:
    /// the same values, and the same error for a malformed number and a missing comma.
    #[test]
    fn lengths_read_as_before() {
        fn reference(buf: &[u8]) -> std::result::Result<(i64, usize), &'static str> {
            let comma = buf.iter().position(|&b| b == b',').ok_or("no comma")?;
            let text = std::str::from_utf8(&buf[..comma]).ok().filter(|t| !t.is_empty() && t.len() <= 19);
            text.and_then(|t| t.parse::<i64>().ok()).map(|v| (v, comma + 1)).ok_or("bad")
        }
        let mut cases: Vec<Vec<u8>> = [
            "0,", "7,", "-1,", "+5,", "-,", "+,", ",", "", "12", "1a,", "a1,", " 1,", "1 ,", "--1,", "-+1,", "01,",
            "9223372036854775807,", "9223372036854775808,", "-922337203685477580,", "1234567890123456789,",
            "12345678901234567890,", "-9223372036854775808,", "99999999999999999999999", "5,6,", "x", "-",
        ]
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            cases.push((0..len).map(|k| b"0123456789,-+x"[((x >> (k * 2 % 60)) % 14) as usize]).collect());
        }
        for c in cases {
            let mut pos = 0;
            let got = parse_len(&c, &mut pos).map(|v| (v, pos)).map_err(|e| if e.message.starts_with("bad") { "bad" } else { "no comma" });
            assert_eq!(got, reference(&c), "{:?}", String::from_utf8_lossy(&c));
        }
    }

    #[test]
    fn batch_round_trip() {
        let r = BatchRecord { topic: b"t", partition: -1, flags: 3, timestamp: 0, key: b"k,", value: b"", headers: b"1,1,ab" };
        let mut buf = Vec::new();
        push_batch_record(&mut buf, &r);
        push_batch_record(&mut buf, &r);
        assert_eq!(decode_batch(&buf).unwrap(), vec![r.clone(), r]);
        assert!(decode_batch(b"1,-2,0,0,0,0,0,t").is_err());
        assert!(decode_batch(b"5,0,0,0,0,0,0,t").is_err());
    }

    #[test]
    fn pairs_round_trip() {
        let blob = encode_pairs([(&b"a"[..], Some(&b"1,2"[..])), (&b"n"[..], None), (&b""[..], Some(&b""[..]))]);
        assert_eq!(blob, b"1,3,a1,21,-1,n0,0,".to_vec());
        let back = decode_pairs(&blob).unwrap();
        assert_eq!(back, vec![(&b"a"[..], Some(&b"1,2"[..])), (&b"n"[..], None), (&b""[..], Some(&b""[..]))]);
    }

    #[test]
    fn pairs_reject_garbage() {
        assert!(decode_pairs(b"5,1,ab").is_err());
        assert!(decode_pairs(b"x,1,ab").is_err());
        assert!(decode_pairs(b"1,-2,a").is_err());
        assert!(decode_pairs(b"99999999999999999999,1,a").is_err());
    }

    #[test]
    fn frame_inlines_what_fits() {
        let rec = ConsumedRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp: Some(1000),
            key: None,
            value: Some(vec![9; 1000]),
            headers_blob: encode_pairs([(&b"h"[..], Some(&b"v"[..]))]),
        };
        let mut out = Vec::new();
        let fit = encode_record_frame(&rec.view(), 4096, &mut out).unwrap();
        assert_eq!(fit, FrameFit { inline: 7, whole: true });
        let d = decode_record_frame(&out).unwrap();
        assert_eq!((d.partition, d.offset, d.timestamp, d.key_len), (2, 7, 1000, -1));
        assert_eq!(d.value.unwrap().len(), 1000);
        out.clear();
        let fit = encode_record_frame(&rec.view(), 400, &mut out).unwrap();
        assert_eq!(fit, FrameFit { inline: 1 | 4, whole: false });
        let d = decode_record_frame(&out).unwrap();
        assert_eq!(d.value, None);
        assert_eq!(d.value_len, 1000);
    }

    /// Frames written in place into a fixed buffer are byte for byte those of a growing one,
    /// a frame of the largest numbers fits `FRAME_HEADER_MAX` plus its topic, a frame keeps its
    /// fields inline as long as it fits exactly, and dropping a
    /// frame in place (as a batch drops a revoked partition's records) keeps the others whole.
    #[test]
    fn frames_in_place_match_and_compact() {
        let recs: Vec<ConsumedRecord> = [(0, 0, None), (i32::MAX, i64::MAX, Some(i64::MIN)), (-1, -1, Some(1_764_000_000_000))]
            .into_iter()
            .map(|(partition, offset, timestamp)| ConsumedRecord {
                topic: "orders".into(),
                partition,
                offset,
                timestamp,
                key: Some(b"k".to_vec()),
                value: Some(vec![b'v'; 300]),
                headers_blob: Vec::new(),
            })
            .collect();
        let mut grown = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut fixed = SliceOut::new(&mut buf);
        let mut starts = Vec::new();
        for r in &recs {
            starts.push(FrameOut::len(&fixed));
            let room = 4096 - FrameOut::len(&fixed);
            assert_eq!(encode_record_frame(&r.view(), room, &mut grown), encode_record_frame(&r.view(), room, &mut fixed));
        }
        assert_eq!(fixed.written_mut(), &grown[..]);
        for r in &recs {
            let mut one = Vec::new();
            let bare = ConsumedRecord { key: None, value: None, ..r.clone() };
            assert!(encode_record_frame(&bare.view(), FRAME_HEADER_MAX + r.topic.len(), &mut one).is_some());
            assert!(one.len() <= FRAME_HEADER_MAX + r.topic.len(), "{}", String::from_utf8_lossy(&one));
            let mut none = Vec::new();
            assert_eq!(encode_record_frame(&bare.view(), one.len() - 1, &mut none), None, "one byte short");
            assert!(none.is_empty(), "nothing is written when the frame does not fit");
            // the fields are inlined as long as the frame fits exactly
            let mut whole = Vec::new();
            assert_eq!(encode_record_frame(&r.view(), 4096, &mut whole).map(|f| f.whole), Some(true));
            let mut exact = Vec::new();
            assert_eq!(encode_record_frame(&r.view(), whole.len(), &mut exact), Some(FrameFit { inline: 7, whole: true }));
            let mut short = Vec::new();
            assert_eq!(encode_record_frame(&r.view(), whole.len() - 1, &mut short), Some(FrameFit { inline: 1 | 4, whole: false }));
            assert_eq!(short.len(), whole.len() - 300, "the value left out, the rest as before");
        }
        let end = FrameOut::len(&fixed);
        let (a, b) = (starts[1], starts[2]);
        fixed.written_mut().copy_within(b..end, a);
        fixed.truncate(a + end - b);
        let mut expect = grown[..a].to_vec();
        expect.extend_from_slice(&grown[b..]);
        assert_eq!(fixed.written_mut(), &expect[..]);
        assert_eq!(decode_record_frame(&expect[a..]).unwrap().offset, -1);
    }
}
