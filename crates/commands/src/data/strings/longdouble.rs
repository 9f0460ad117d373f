//! The x87 80-bit `long double` arithmetic behind INCRBYFLOAT.
//!
//! Redis 7.0.15 on x86-64 parses both operands with `strtold`, adds them in
//! 80-bit extended precision (64-bit significand) and prints the sum with
//! `%.17Lf`, then trims trailing zeros. The visible results (`10.5 + 0.1` is
//! `10.6`, `1e308 + 0` prints 309 digits, `2^-18` prints `0.00000381469726562`)
//! depend on exactly that precision, so this module models it in software:
//!
//! * [`LongDouble::parse`]: `strtold` as Redis's `string2ld` uses it (decimal
//!   and hexadecimal forms, `inf`/`infinity`, correct round-half-even, subnormals,
//!   overflow and underflow refused like `ERANGE`);
//! * [`LongDouble::add`]: one correctly rounded addition;
//! * [`LongDouble::format_human`]: `%.17Lf` with glibc's exact decimal rounding,
//!   plus Redis's trimming (`ld2string` in `LD_STR_HUMAN` mode).
//!
//! Exactness comes from a small arbitrary-precision unsigned integer ([`Big`]);
//! the numbers involved are at most a few thousand digits long.

use std::cmp::Ordering;

/// Significand bits of the x87 extended format.
const PREC: u32 = 64;
/// Exponent of the least significant significand bit of the smallest subnormal.
const MIN_EXP: i64 = -16445;
/// Largest exponent of the least significant significand bit of a finite value.
const MAX_EXP: i64 = 16383 - 63;
/// Longest input `string2ld` accepts (its buffer is `MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;

/// A finite or infinite extended-precision value: `(-1)^neg * mant * 2^exp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongDouble {
    Finite { neg: bool, mant: u64, exp: i64 },
    Inf { neg: bool },
}

/// Arbitrary-precision unsigned integer, little-endian 32-bit limbs, no trailing zero limb.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        self.0.get(limb).is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// True when any bit below position `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        rem != 0
            && self
                .0
                .get(full)
                .is_some_and(|&l| l & ((1u32 << rem) - 1) != 0)
    }

    fn mul_small_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for l in &mut self.0 {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut k: u64) {
        while k >= 9 {
            self.mul_small_add(1_000_000_000, 0);
            k -= 9;
        }
        if k > 0 {
            self.mul_small_add(10u32.pow(k as u32), 0);
        }
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let limbs = (n / 32) as usize;
        let bits = (n % 32) as u32;
        let mut out = vec![0u32; limbs];
        out.reserve(self.0.len() + 1);
        if bits == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &l in &self.0 {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// The 64 bits starting at bit `from` (bits past the end are zero).
    fn bits64_from(&self, from: u64) -> u64 {
        let mut v = 0u64;
        for i in 0..64 {
            if self.bit(from + i) {
                v |= 1 << i;
            }
        }
        v
    }

    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let s = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(o.0.get(i).copied().unwrap_or(0))
                + carry;
            out.push(s as u32);
            carry = s >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// `self - o`; requires `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut d = i64::from(self.0[i]) - i64::from(o.0.get(i).copied().unwrap_or(0)) - borrow;
            if d < 0 {
                d += 1 << 32;
                borrow = 1;
            } else {
                borrow = 0;
            }
            out.push(d as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// Quotient (which must fit in 128 bits) and whether the remainder is non-zero.
    fn div_small_quotient(&self, d: &Big) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q = 0u128;
        let top = self.bit_len().saturating_sub(d.bit_len());
        for i in (0..=top).rev() {
            let shifted = d.shl(i);
            if rem.cmp(&shifted) != Ordering::Less {
                rem = rem.sub(&shifted);
                if i < 128 {
                    q |= 1u128 << i;
                }
            }
        }
        (q, !rem.is_zero())
    }

    /// Decimal digits.
    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut limbs = self.0.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for l in limbs.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*l);
                *l = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
            chunks.push(rem as u32);
        }
        let mut s = String::new();
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&c.to_string());
            } else {
                s.push_str(&format!("{c:09}"));
            }
        }
        s
    }
}

/// Rounds the exact value `n * 2^e` (n > 0) to the extended format, round half to even.
/// `None` on overflow; a zero significand on underflow.
fn round(n: &Big, e: i64) -> Option<(u64, i64)> {
    let len = n.bit_len() as i64;
    let mut exp = (e + len - i64::from(PREC)).max(MIN_EXP);
    let shift = exp - e;
    let mut mant = if shift <= 0 {
        // Exact: fewer than 64 significant bits (only possible at the bottom).
        n.bits64_from(0) << (-shift) as u32
    } else {
        let s = shift as u64;
        let mut m = n.bits64_from(s);
        let half = n.bit(s - 1);
        let sticky = n.any_below(s - 1);
        if half && (sticky || m & 1 == 1) {
            m = match m.checked_add(1) {
                Some(v) => v,
                None => {
                    exp += 1;
                    1 << 63
                }
            };
        }
        m
    };
    if mant == 0 {
        exp = MIN_EXP;
        mant = 0;
    }
    if exp > MAX_EXP {
        return None;
    }
    Some((mant, exp))
}

/// Parsed pieces of a number before exact conversion.
struct Scan<'a> {
    neg: bool,
    hex: bool,
    int_digits: &'a [u8],
    frac_digits: &'a [u8],
    /// Decimal (or, for hex, binary) exponent, saturated.
    exp: i64,
}

fn digit_val(c: u8, hex: bool) -> Option<u32> {
    if hex {
        (c as char).to_digit(16)
    } else {
        (c as char).to_digit(10)
    }
}

/// Scans `s` as the whole of a C floating-point literal; `None` if any byte is left over.
fn scan(s: &[u8]) -> Option<Result<Scan<'_>, LongDouble>> {
    let (neg, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower: Vec<u8> = rest.iter().map(u8::to_ascii_lowercase).collect();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Err(LongDouble::Inf { neg }));
    }
    // NaN parses but Redis refuses it; everything else alphabetic is garbage.
    let mut hex = false;
    let mut body = rest;
    if body.len() > 2 && body[0] == b'0' && (body[1] == b'x' || body[1] == b'X') {
        let after = &body[2..];
        let starts_hex = match after.first() {
            Some(c) if c.is_ascii_hexdigit() => true,
            Some(b'.') => after.get(1).is_some_and(u8::is_ascii_hexdigit),
            _ => false,
        };
        if starts_hex {
            hex = true;
            body = after;
        }
    }
    let mut i = 0;
    while i < body.len() && digit_val(body[i], hex).is_some() {
        i += 1;
    }
    let int_digits = &body[..i];
    let mut frac_digits: &[u8] = &[];
    if i < body.len() && body[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < body.len() && digit_val(body[j], hex).is_some() {
            j += 1;
        }
        frac_digits = &body[start..j];
        i = j;
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if i < body.len() {
        let marker = body[i].to_ascii_lowercase();
        if marker != if hex { b'p' } else { b'e' } {
            return None;
        }
        let mut j = i + 1;
        let eneg = match body.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let dstart = j;
        while j < body.len() && body[j].is_ascii_digit() {
            exp = exp
                .saturating_mul(10)
                .saturating_add(i64::from(body[j] - b'0'));
            j += 1;
        }
        if j == dstart || j != body.len() {
            return None;
        }
        if eneg {
            exp = -exp;
        }
    }
    Some(Ok(Scan {
        neg,
        hex,
        int_digits,
        frac_digits,
        exp: exp.clamp(-1_000_000_000, 1_000_000_000),
    }))
}

impl LongDouble {
    pub(crate) const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: MIN_EXP,
    };

    /// The exact value of an integer.
    pub(crate) fn from_i64(v: i64) -> LongDouble {
        let neg = v < 0;
        let mag = v.unsigned_abs();
        if mag == 0 {
            return LongDouble::ZERO;
        }
        match round(&Big::from_u64(mag), 0) {
            Some((mant, exp)) => LongDouble::Finite { neg, mant, exp },
            None => LongDouble::Inf { neg },
        }
    }

    /// Redis's `string2ld`: the whole input must be a number `strtold` accepts,
    /// without leading space, and must not overflow, underflow to zero, or be NaN.
    pub(crate) fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() || s[0] == 0x0b {
            return None;
        }
        let sc = match scan(s)? {
            Ok(sc) => sc,
            Err(inf) => return Some(inf),
        };
        let radix_bits: i64 = if sc.hex { 4 } else { 0 };
        // The significand as an integer, without leading zeros.
        let all = sc.int_digits.iter().chain(sc.frac_digits.iter());
        let mut n = Big::default();
        let mut ndigits: i64 = 0;
        for &c in all {
            let d = digit_val(c, sc.hex).unwrap_or(0);
            if n.is_zero() && d == 0 {
                continue;
            }
            n.mul_small_add(if sc.hex { 16 } else { 10 }, d);
            ndigits += 1;
        }
        if n.is_zero() {
            return Some(LongDouble::Finite {
                neg: sc.neg,
                mant: 0,
                exp: MIN_EXP,
            });
        }
        let frac_len = sc.frac_digits.len() as i64;
        let rounded = if sc.hex {
            let e = sc.exp - radix_bits * frac_len;
            let top = n.bit_len() as i64 + e;
            if top > 16384 + 1 {
                None
            } else if top < MIN_EXP - 1 {
                Some((0, MIN_EXP))
            } else {
                round(&n, e)
            }
        } else {
            let k10 = sc.exp - frac_len;
            if ndigits - 1 + k10 > 4932 {
                None
            } else if ndigits + k10 < -4951 {
                Some((0, MIN_EXP))
            } else if k10 >= 0 {
                n.mul_pow10(k10 as u64);
                round(&n, 0)
            } else {
                let mut den = Big::from_u64(1);
                den.mul_pow10((-k10) as u64);
                // Scale so that the quotient has 66 or 67 significant bits:
                // n / den = (n * 2^s) / den * 2^-s, shifting den instead when s < 0.
                let s = den.bit_len() as i64 - n.bit_len() as i64 + 66;
                let (q, inexact) = if s >= 0 {
                    n.shl(s as u64).div_small_quotient(&den)
                } else {
                    n.div_small_quotient(&den.shl((-s) as u64))
                };
                let q2 = (q << 1) | u128::from(inexact);
                let mut qb = Big::from_u64(q2 as u64);
                let hi = Big::from_u64((q2 >> 64) as u64).shl(64);
                qb = qb.add(&hi);
                round(&qb, -s - 1)
            }
        };
        match rounded {
            None => None,
            Some((0, _)) => None,
            Some((mant, exp)) => Some(LongDouble::Finite {
                neg: sc.neg,
                mant,
                exp,
            }),
        }
    }

    /// True for infinities (NaN never arises: an infinite operand makes the
    /// caller fail before any value is used).
    pub(crate) fn is_inf(&self) -> bool {
        matches!(self, LongDouble::Inf { .. })
    }

    /// `self + o`, rounded once; `Inf` for overflow and for NaN results alike
    /// (INCRBYFLOAT refuses both with the same error).
    pub(crate) fn add(self, o: LongDouble) -> LongDouble {
        let (
            LongDouble::Finite {
                neg: na,
                mant: ma,
                exp: ea,
            },
            LongDouble::Finite {
                neg: nb,
                mant: mb,
                exp: eb,
            },
        ) = (self, o)
        else {
            return LongDouble::Inf { neg: false };
        };
        if ma == 0 && mb == 0 {
            return LongDouble::Finite {
                neg: na && nb,
                mant: 0,
                exp: MIN_EXP,
            };
        }
        if ma == 0 {
            return o;
        }
        if mb == 0 {
            return self;
        }
        let e = ea.min(eb);
        let a = Big::from_u64(ma).shl((ea - e) as u64);
        let b = Big::from_u64(mb).shl((eb - e) as u64);
        let (neg, sum) = if na == nb {
            (na, a.add(&b))
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return LongDouble::ZERO,
                Ordering::Greater => (na, a.sub(&b)),
                Ordering::Less => (nb, b.sub(&a)),
            }
        };
        match round(&sum, e) {
            Some((mant, exp)) => LongDouble::Finite { neg, mant, exp },
            None => LongDouble::Inf { neg },
        }
    }

    /// `%.17Lf` with trailing zeros (and a trailing `.`) removed and `-0` printed as `0`,
    /// as Redis's `ld2string(..., LD_STR_HUMAN)`.
    pub(crate) fn format_human(&self) -> String {
        let (neg, mant, exp) = match *self {
            LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let n = Big::from_u64(mant);
        let (int_part, frac17) = if exp >= 0 {
            (n.shl(exp as u64), 0u64)
        } else {
            let s = (-exp) as u64;
            let int_part = Big(n.0.clone()).shr_big(s);
            // frac = n mod 2^s; scaled = frac * 10^17.
            let frac = n.low_bits(s);
            let mut scaled = frac;
            scaled.mul_pow10(17);
            let q = scaled.shr_big(s);
            let mut qv = q.bits64_from(0);
            let half = s >= 1 && scaled.bit(s - 1);
            let sticky = s >= 1 && scaled.any_below(s - 1);
            if half && (sticky || qv & 1 == 1) {
                qv += 1;
            }
            if qv >= 100_000_000_000_000_000 {
                (
                    int_part.add(&Big::from_u64(1)),
                    qv - 100_000_000_000_000_000,
                )
            } else {
                (int_part, qv)
            }
        };
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push_str(&int_part.to_decimal());
        if frac17 != 0 {
            let f = format!("{frac17:017}");
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
        if out == "-0" {
            out = "0".to_string();
        }
        out
    }
}

impl Big {
    fn shr_big(&self, n: u64) -> Big {
        let limbs = (n / 32) as usize;
        if limbs >= self.0.len() {
            return Big::default();
        }
        let bits = (n % 32) as u32;
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let lo = src[i] >> bits;
            let hi = if bits == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |&h| h << (32 - bits))
            };
            out.push(lo | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn low_bits(&self, n: u64) -> Big {
        let limbs = (n / 32) as usize;
        let bits = (n % 32) as u32;
        let mut out: Vec<u32> = self.0.iter().take(limbs + 1).copied().collect();
        if out.len() > limbs {
            if bits == 0 {
                out.truncate(limbs);
            } else {
                out[limbs] &= (1u32 << bits) - 1;
            }
        }
        let mut b = Big(out);
        b.trim();
        b
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        let x = LongDouble::parse(a.as_bytes()).unwrap();
        let y = LongDouble::parse(b.as_bytes()).unwrap();
        x.add(y).format_human()
    }

    #[test]
    fn known_redis_results() {
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("3.0e3", "5.0e3"), "8000");
        assert_eq!(
            incr("8000", "0.000003814697265625"),
            "8000.00000381469726562"
        );
        assert_eq!(incr("0", "0.000003814697265625"), "0.00000381469726562");
        assert_eq!(incr("0", "0.000011444091796875"), "0.00001144409179688");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("0", "-0"), "0");
        assert_eq!(incr("0", "1e-30"), "0");
        assert_eq!(incr("0", "-1e-20"), "0");
        assert_eq!(incr("0", "+1.5"), "1.5");
        assert_eq!(incr("0", ".5"), "0.5");
        assert_eq!(incr("0", "5."), "5");
        assert_eq!(incr("0", "0x1p-2"), "0.25");
        assert_eq!(incr("0", "1.5e-4950"), "0");
        assert!(incr("0", "1e308").starts_with("99999999999999999996685879655845645660560099"));
        assert_eq!(incr("0", "1e308").len(), 308);
        assert!(incr("0", "1e4000").starts_with("9999999999999999999965463873099623784932"));
    }

    #[test]
    fn refused_inputs() {
        for s in [
            " 1", "1 ", "1e", "0x", "1_0", "nan", "", "1e-4960", "1e5000", "-", ".", "e5", "\x001",
        ] {
            assert_eq!(LongDouble::parse(s.as_bytes()), None, "{s:?}");
        }
        assert!(LongDouble::parse(b"inf").unwrap().is_inf());
        assert!(LongDouble::parse(b"-Infinity").unwrap().is_inf());
        assert!(LongDouble::parse(b"0e99999999999999999999999").is_some());
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(
            LongDouble::from_i64(i64::MIN).format_human(),
            "-9223372036854775808"
        );
        assert_eq!(
            LongDouble::from_i64(i64::MAX).format_human(),
            "9223372036854775807"
        );
        assert_eq!(LongDouble::from_i64(0).format_human(), "0");
        assert_eq!(
            LongDouble::from_i64(5).add(LongDouble::parse(b"-5").unwrap()),
            LongDouble::ZERO
        );
    }
}
