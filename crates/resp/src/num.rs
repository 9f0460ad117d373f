//! Number text helpers shared by the decoders and the encoder.
//!
//! * [`string2ll`]: Redis's strict integer parser (no `+`, no leading zeros,
//!   no spaces, at most 20 characters), the rule behind every `*<n>` and
//!   `$<n>` header a Redis server accepts.
//! * [`format_double`]: C's `%.17g`, which Redis 7.0.15 uses for double
//!   replies, including glibc's spelling of infinities and NaN.
//! * [`write_i64`]/[`write_u64`]: allocation-free decimal formatting.

use bytes::BufMut;

/// Parse `s` the way Redis's `string2ll` does; `None` when Redis would refuse it.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: 20 characters at most.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(first) {
        return None;
    }
    let mut v = u64::from(first - b'0');
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Append the decimal text of `v` to `out`.
pub fn write_u64(out: &mut impl BufMut, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.put_slice(&buf[i..]);
}

/// Append the decimal text of `v` to `out`.
pub fn write_i64(out: &mut impl BufMut, v: i64) {
    if v < 0 {
        out.put_u8(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Format `d` as C's `printf("%.17g", d)` does with glibc: 17 significant
/// digits, trailing zeros removed, exponent form (`1e+17`, `1.0000000000000001e-05`)
/// when the exponent is below -4 or at least 17, and `inf`, `-inf`, `nan`, `-nan`.
pub fn format_double(d: f64) -> String {
    let mut s = String::with_capacity(24);
    push_double(&mut s, d);
    s
}

/// Append [`format_double`]'s text to `s`.
pub fn push_double(s: &mut String, d: f64) {
    // An integral value below 1e17 has at most 17 digits, all of which `%.17g` prints
    // (fixed notation, no fraction): its integer text, without the exact decimal
    // expansion. Most sorted-set scores are such. -0.0 keeps its sign on the general path.
    if d.fract() == 0.0 && d.abs() < 1e17 && !(d == 0.0 && d.is_sign_negative()) {
        let mut buf = [0u8; 20];
        let mut rest = &mut buf[..];
        write_u64(&mut rest, d.abs() as u64);
        let len = 20 - rest.len();
        if d < 0.0 {
            s.push('-');
        }
        s.extend(buf[..len].iter().map(|&c| char::from(c)));
        return;
    }
    push_double_general(s, d);
}

/// [`push_double`] for any value: `%.17g` from Rust's exactly rounded `{:.16e}`.
fn push_double_general(s: &mut String, d: f64) {
    use std::fmt::Write;
    if d.is_nan() {
        s.push_str(if d.is_sign_negative() { "-nan" } else { "nan" });
        return;
    }
    if d.is_infinite() {
        s.push_str(if d > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Rust's `{:.16e}` rounds exactly (ties to even), as glibc does, giving the
    // same 17 significant digits `%.17g` starts from.
    let mut sci = String::with_capacity(32);
    let _ = write!(sci, "{:.16e}", d);
    let (mantissa, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => (sci.as_str(), "0"),
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if negative {
        s.push('-');
    }
    if (-4..17).contains(&exp) {
        // Fixed notation with 16 - exp decimals, then trailing zeros removed.
        if exp < 0 {
            s.push_str("0.");
            for _ in 0..(-exp - 1) {
                s.push('0');
            }
            push_trimmed(s, &digits);
        } else {
            let int_len = exp as usize + 1;
            for &c in &digits[..int_len] {
                s.push(char::from(c));
            }
            let frac = trim_zeros(&digits[int_len..]);
            if !frac.is_empty() {
                s.push('.');
                for &c in frac {
                    s.push(char::from(c));
                }
            }
        }
    } else {
        s.push(char::from(digits[0]));
        let frac = trim_zeros(&digits[1..]);
        if !frac.is_empty() {
            s.push('.');
            for &c in frac {
                s.push(char::from(c));
            }
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            s.push('0');
        }
        let _ = write!(s, "{}", a);
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let end = d.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1);
    &d[..end]
}

fn push_trimmed(s: &mut String, d: &[u8]) {
    for &c in trim_zeros(d) {
        s.push(char::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_follows_redis() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"123"), Some(123));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1x",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"100000000000000000000",
            b"18446744073709551616",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn integers_format() {
        let mut v = Vec::new();
        write_i64(&mut v, i64::MIN);
        v.push(b' ');
        write_i64(&mut v, 0);
        v.push(b' ');
        write_u64(&mut v, u64::MAX);
        assert_eq!(v, b"-9223372036854775808 0 18446744073709551615");
    }

    #[test]
    fn doubles_match_glibc_g17() {
        // Expected strings taken from redis-server 7.0.15 ZSCORE replies and glibc printf.
        let cases: &[(f64, &str)] = &[
            (1.1, "1.1000000000000001"),
            (1e300, "1.0000000000000001e+300"),
            (0.0, "0"),
            (-0.0, "-0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (12345678901234567890.0, "1.2345678901234567e+19"),
            (1.5, "1.5"),
            (-2.0, "-2"),
            (100.0, "100"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1, "0.10000000000000001"),
            (3.0, "3"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (d, want) in cases {
            assert_eq!(format_double(*d), *want, "{d:e}");
        }
    }

    fn general(d: f64) -> String {
        let mut s = String::new();
        push_double_general(&mut s, d);
        s
    }

    #[test]
    fn integral_fast_path_edges() {
        for d in [
            1.0,
            -1.0,
            99_999_999_999_999_984.0,
            -99_999_999_999_999_984.0,
            9_007_199_254_740_993.0,
            1e16 + 2.0,
        ] {
            assert_eq!(format_double(d), general(d), "{d:e}");
        }
        assert_eq!(format_double(99_999_999_999_999_984.0), "99999999999999984");
    }

    proptest::proptest! {
        #[test]
        fn integral_fast_path_matches_general(i in -100_000_000_000_000_000i64..100_000_000_000_000_000i64) {
            let d = i as f64;
            proptest::prop_assert_eq!(format_double(d), general(d));
        }

        #[test]
        fn any_double_matches_general(bits in proptest::prelude::any::<u64>()) {
            let d = f64::from_bits(bits);
            proptest::prop_assert_eq!(format_double(d), general(d));
        }
    }
}
