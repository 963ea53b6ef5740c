//! ObjectScript values: strings of 16-bit characters, numbers, object references.
//!
//! ObjectScript has one data type, the string; a value used as a number is read by its
//! numeric interpretation, and a number used as a string prints in canonical form
//! ("Data Types and Values", *Using ObjectScript*). The runtime keeps a number it computed as
//! a [`Num`] so that arithmetic does not round-trip through text, but every observable
//! behaviour (`=`, `$Length`, subscripts, Write) goes through [`Value::to_istr`], which gives
//! exactly the canonical form IRIS prints.
//!
//! A string is a sequence of 16-bit code units, as on an IRIS Unicode instance (`$Length`
//! counts code units; a character outside the BMP is a surrogate pair). [`IStr`] stores it
//! narrow (one byte a character) while every character is below 256 — the byte strings that
//! cross the `$ZF` boundary — and wide otherwise.

use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;

use crate::number::Num;
use crate::object::Oref;

/// An ObjectScript string: 16-bit characters, narrow while all are below 256.
#[derive(Clone)]
pub enum IStr {
    /// Every character is below 256: one byte each.
    Narrow(Rc<[u8]>),
    /// At least one character is 256 or above.
    Wide(Rc<[u16]>),
}

impl IStr {
    /// The empty string.
    pub fn empty() -> IStr {
        IStr::Narrow(Rc::from(&[][..]))
    }

    /// A string of the given bytes, each one character 0-255.
    pub fn from_bytes(bytes: &[u8]) -> IStr {
        IStr::Narrow(Rc::from(bytes))
    }

    /// A string of the given 16-bit characters (narrowed when every one is below 256).
    pub fn from_units(units: &[u16]) -> IStr {
        if units.iter().all(|&u| u < 256) {
            IStr::Narrow(units.iter().map(|&u| u as u8).collect::<Vec<u8>>().into())
        } else {
            IStr::Wide(Rc::from(units))
        }
    }

    /// The UTF-16 encoding of a Rust string (characters outside the BMP become surrogate
    /// pairs, as on IRIS).
    pub fn from_str(s: &str) -> IStr {
        if s.is_ascii() {
            return IStr::from_bytes(s.as_bytes());
        }
        let units: Vec<u16> = s.encode_utf16().collect();
        IStr::from_units(&units)
    }

    /// Length in characters (`$Length`).
    pub fn len(&self) -> usize {
        match self {
            IStr::Narrow(b) => b.len(),
            IStr::Wide(w) => w.len(),
        }
    }

    /// True for "".
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The character at 0-based position `i`.
    pub fn at(&self, i: usize) -> u16 {
        match self {
            IStr::Narrow(b) => b[i] as u16,
            IStr::Wide(w) => w[i],
        }
    }

    /// The bytes, when every character is below 256.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            IStr::Narrow(b) => Some(b),
            IStr::Wide(_) => None,
        }
    }

    /// The characters as 16-bit units (copied for a narrow string).
    pub fn units(&self) -> Vec<u16> {
        match self {
            IStr::Narrow(b) => b.iter().map(|&c| c as u16).collect(),
            IStr::Wide(w) => w.to_vec(),
        }
    }

    /// Characters `from..to` (0-based, end exclusive, clamped to the string).
    pub fn slice(&self, from: usize, to: usize) -> IStr {
        let to = to.min(self.len());
        if from >= to {
            return IStr::empty();
        }
        match self {
            IStr::Narrow(b) => IStr::Narrow(Rc::from(&b[from..to])),
            IStr::Wide(w) => IStr::from_units(&w[from..to]),
        }
    }

    /// `self _ other`.
    pub fn concat(&self, other: &IStr) -> IStr {
        match (self, other) {
            (IStr::Narrow(a), IStr::Narrow(b)) => {
                let mut v = Vec::with_capacity(a.len() + b.len());
                v.extend_from_slice(a);
                v.extend_from_slice(b);
                IStr::Narrow(v.into())
            }
            _ => {
                let mut v = self.units();
                v.extend(other.units());
                IStr::Wide(v.into())
            }
        }
    }

    /// 0-based position of the first occurrence of `needle` at or after `from`.
    pub fn find(&self, needle: &IStr, from: usize) -> Option<usize> {
        let (n, h) = (needle.len(), self.len());
        if n == 0 {
            return Some(from.min(h));
        }
        if n > h {
            return None;
        }
        if let (IStr::Narrow(hay), IStr::Narrow(nd)) = (self, needle) {
            return hay[from.min(h)..]
                .windows(n)
                .position(|w| w == &nd[..])
                .map(|p| p + from);
        }
        (from..=h - n).find(|&i| (0..n).all(|j| self.at(i + j) == needle.at(j)))
    }

    /// Lossless conversion to a Rust string where the characters form valid UTF-16 (lone
    /// surrogates become U+FFFD); for display and diagnostics.
    pub fn to_string_lossy(&self) -> String {
        match self {
            IStr::Narrow(b) => b.iter().map(|&c| c as char).collect(),
            IStr::Wide(w) => String::from_utf16_lossy(w),
        }
    }

    /// Code-unit order ("sorts after", `]]`, is separate: see [`collate`]).
    pub fn cmp_units(&self, other: &IStr) -> Ordering {
        match (self, other) {
            (IStr::Narrow(a), IStr::Narrow(b)) => a.cmp(b),
            _ => self.units().cmp(&other.units()),
        }
    }
}

impl PartialEq for IStr {
    fn eq(&self, other: &IStr) -> bool {
        match (self, other) {
            (IStr::Narrow(a), IStr::Narrow(b)) => a == b,
            // A wide string always holds a character >= 256, a narrow one never does.
            (IStr::Wide(a), IStr::Wide(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for IStr {}

impl std::hash::Hash for IStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            IStr::Narrow(b) => b.hash(state),
            IStr::Wide(w) => w.hash(state),
        }
    }
}

impl fmt::Debug for IStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for IStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&str> for IStr {
    fn from(s: &str) -> IStr {
        IStr::from_str(s)
    }
}

/// One ObjectScript value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string (the only type ObjectScript has; everything else is an interpretation).
    Str(IStr),
    /// A number the runtime computed or read from a numeric literal; it behaves exactly as
    /// its canonical string form.
    Num(Num),
    /// An object reference (OREF).
    Obj(Oref),
}

impl Value {
    /// "".
    pub fn empty() -> Value {
        Value::Str(IStr::empty())
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(IStr::from_str(s))
    }

    /// An integer value.
    pub fn int(i: i64) -> Value {
        Value::Num(Num::from_i64(i))
    }

    /// A boolean as 1 or 0.
    pub fn bool(b: bool) -> Value {
        Value::int(b as i64)
    }

    /// The string this value is: a number in canonical form, an object reference as
    /// `<n>@<class>` (what IRIS prints for an OREF used as a string).
    pub fn to_istr(&self) -> IStr {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(n) => n.to_istr(),
            Value::Obj(o) => IStr::from_str(&o.display_string()),
        }
    }

    /// The numeric interpretation (a string's leading number; "" and non-numeric text are 0).
    pub fn to_num(&self) -> Num {
        match self {
            Value::Str(s) => Num::parse_prefix(s),
            Value::Num(n) => n.clone(),
            // An OREF used as a number is its integer part (IRIS: the "n" of "n@Class").
            Value::Obj(o) => Num::from_i64(o.id() as i64),
        }
    }

    /// The integer interpretation (numeric interpretation truncated toward zero), saturated
    /// to the i64 range.
    pub fn to_i64(&self) -> i64 {
        self.to_num().trunc_i64()
    }

    /// Truth value: the numeric interpretation is non-zero.
    pub fn to_bool(&self) -> bool {
        !self.to_num().is_zero()
    }

    /// True when this is an object reference.
    pub fn is_obj(&self) -> bool {
        matches!(self, Value::Obj(_))
    }

    /// The object reference, if this is one.
    pub fn as_obj(&self) -> Option<&Oref> {
        match self {
            Value::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// ObjectScript `=`: string equality of the two values' string forms.
    pub fn str_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Obj(a), Value::Obj(b)) => a.same(b),
            _ => self.to_istr() == other.to_istr(),
        }
    }
}

impl From<IStr> for Value {
    fn from(s: IStr) -> Value {
        Value::Str(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::int(i)
    }
}

/// Subscript collation of IRIS globals and local arrays: the empty string is not a valid
/// subscript; canonical numbers come first, in numeric order; then every other string, in
/// code-unit order ("Collation", *Using Globals*).
pub fn collate(a: &IStr, b: &IStr) -> Ordering {
    match (Num::canonical(a), Num::canonical(b)) {
        (Some(x), Some(y)) => x.cmp_num(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp_units(b),
    }
}
