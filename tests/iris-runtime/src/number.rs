//! ObjectScript numbers: IRIS's decimal floating point (a 64-bit signed integer mantissa and a
//! power of ten) and `$DOUBLE` (IEEE binary64), with IRIS's canonical form.
//!
//! SKELETON: the first version is f64-based so that the crate compiles; the values helper
//! replaces it with exact decimal arithmetic. The public API below is the contract other
//! modules use; keep it (add to it freely).

use std::cmp::Ordering;

use crate::value::IStr;

/// A run-time error of arithmetic (`<DIVIDE>`, `<MAXNUMBER>`, `<ILLEGAL VALUE>`).
#[derive(Clone, Debug, PartialEq)]
pub enum NumError {
    /// Division (`/`, `\`, `#`) by zero: `<DIVIDE>`.
    Divide,
    /// A result beyond the decimal range: `<MAXNUMBER>`.
    MaxNumber,
    /// `**` with an operand combination IRIS refuses: `<ILLEGAL VALUE>`.
    IllegalValue,
}

/// One ObjectScript number.
#[derive(Clone, Debug)]
pub enum Num {
    /// IRIS decimal: `mant * 10^exp`.
    Dec {
        /// The mantissa.
        mant: i64,
        /// The power of ten.
        exp: i32,
    },
    /// `$DOUBLE`: IEEE binary64.
    Dbl(f64),
}

impl Num {
    /// An integer.
    pub fn from_i64(i: i64) -> Num {
        Num::Dec { mant: i, exp: 0 }
    }

    /// The numeric interpretation of a string: its longest leading numeric part
    /// (`+"2DOGS"` is 2, `+"ABC"` is 0, `+"1E3"` is 1000, `+" 1"` is 0).
    pub fn parse_prefix(s: &IStr) -> Num {
        let text = s.to_string_lossy();
        let b = text.as_bytes();
        let mut i = 0;
        let mut neg = false;
        while i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            if b[i] == b'-' {
                neg = !neg;
            }
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        let mant_end = i;
        if i < b.len() && (b[i] == b'E' || b[i] == b'e') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            let ds = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > ds {
                i = j;
            }
        }
        let body = &text[start..if i > mant_end { i } else { mant_end }];
        let v: f64 = body.parse().unwrap_or(0.0);
        Num::from_f64(if neg { -v } else { v })
    }

    fn from_f64(v: f64) -> Num {
        if v.fract() == 0.0 && v.abs() < 9.2e18 {
            Num::Dec { mant: v as i64, exp: 0 }
        } else {
            // Approximate: 17 significant digits.
            let s = format!("{:.17e}", v);
            let (m, e) = s.split_once('e').unwrap();
            let neg = m.starts_with('-');
            let digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
            let mut mant: i64 = digits.parse().unwrap_or(0);
            let mut exp: i32 = e.parse::<i32>().unwrap_or(0) - 17;
            while mant != 0 && mant % 10 == 0 {
                mant /= 10;
                exp += 1;
            }
            Num::Dec { mant: if neg { -mant } else { mant }, exp }
        }
    }

    fn to_f64(&self) -> f64 {
        match self {
            Num::Dec { mant, exp } => (*mant as f64) * 10f64.powi(*exp),
            Num::Dbl(d) => *d,
        }
    }

    /// `Some(n)` when `s` is a number in canonical form ("12", "-1.5", ".5", not "012",
    /// "1.50", "+1", "1E3", "-0" or "").
    pub fn canonical(s: &IStr) -> Option<Num> {
        if s.is_empty() {
            return None;
        }
        let n = Num::parse_prefix(s);
        if n.to_istr() == *s {
            Some(n)
        } else {
            None
        }
    }

    /// The canonical string form (no leading zero before the point, no trailing zeros
    /// after it, no "+", "-0" is "0", no exponent for decimals).
    pub fn to_istr(&self) -> IStr {
        match self {
            Num::Dec { mant, exp } => {
                if *mant == 0 {
                    return IStr::from_str("0");
                }
                let neg = *mant < 0;
                let digits = mant.unsigned_abs().to_string();
                let s = if *exp >= 0 {
                    format!("{}{}", digits, "0".repeat(*exp as usize))
                } else {
                    let e = (-*exp) as usize;
                    let (int, frac) = if digits.len() > e {
                        (digits[..digits.len() - e].to_string(), digits[digits.len() - e..].to_string())
                    } else {
                        (String::new(), format!("{}{}", "0".repeat(e - digits.len()), digits))
                    };
                    let frac = frac.trim_end_matches('0');
                    if frac.is_empty() {
                        if int.is_empty() { "0".into() } else { int }
                    } else {
                        format!("{}.{}", int, frac)
                    }
                };
                IStr::from_str(&if neg { format!("-{}", s) } else { s })
            }
            Num::Dbl(d) => IStr::from_str(&format!("{}", d)),
        }
    }

    /// True for 0.
    pub fn is_zero(&self) -> bool {
        self.to_f64() == 0.0
    }

    /// Truncated toward zero to an integer, saturated to the i64 range.
    pub fn trunc_i64(&self) -> i64 {
        self.to_f64().trunc() as i64
    }

    /// Numeric order.
    pub fn cmp_num(&self, other: &Num) -> Ordering {
        self.to_f64().partial_cmp(&other.to_f64()).unwrap_or(Ordering::Equal)
    }

    /// `-x`.
    pub fn neg(&self) -> Num {
        Num::from_f64(-self.to_f64())
    }

    /// `a + b`.
    pub fn add(&self, b: &Num) -> Result<Num, NumError> {
        Ok(Num::from_f64(self.to_f64() + b.to_f64()))
    }

    /// `a - b`.
    pub fn sub(&self, b: &Num) -> Result<Num, NumError> {
        Ok(Num::from_f64(self.to_f64() - b.to_f64()))
    }

    /// `a * b`.
    pub fn mul(&self, b: &Num) -> Result<Num, NumError> {
        Ok(Num::from_f64(self.to_f64() * b.to_f64()))
    }

    /// `a / b`.
    pub fn div(&self, b: &Num) -> Result<Num, NumError> {
        if b.is_zero() {
            return Err(NumError::Divide);
        }
        Ok(Num::from_f64(self.to_f64() / b.to_f64()))
    }

    /// `a \ b` (integer division, truncated toward zero).
    pub fn int_div(&self, b: &Num) -> Result<Num, NumError> {
        if b.is_zero() {
            return Err(NumError::Divide);
        }
        Ok(Num::from_f64((self.to_f64() / b.to_f64()).trunc()))
    }

    /// `a # b` (modulo: the result has the sign of b).
    pub fn modulo(&self, b: &Num) -> Result<Num, NumError> {
        if b.is_zero() {
            return Err(NumError::Divide);
        }
        let (x, y) = (self.to_f64(), b.to_f64());
        Ok(Num::from_f64(x - y * (x / y).floor()))
    }

    /// `a ** b`.
    pub fn pow(&self, b: &Num) -> Result<Num, NumError> {
        Ok(Num::from_f64(self.to_f64().powf(b.to_f64())))
    }
}
