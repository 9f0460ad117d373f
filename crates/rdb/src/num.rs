//! Number text rules shared by the decoder and the encoder.
//!
//! Redis decides "is this string an integer?" with `string2ll` (canonical
//! decimal only: no `+`, no leading zero, no `-0`, no spaces) and prints
//! zset scores with `d2string` (integer text when the double is an exact
//! integer within ±2^62, else `%.17g`). Both matter for writing byte-for-byte
//! what 7.0.15 writes.

/// Redis's `string2ll`: the value of `s` if it is a canonical decimal `i64`.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    // Accumulate as a negative number so that i64::MIN fits.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// Decimal text of an integer.
pub fn i64_text(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// C's `printf("%.17g", v)` for a finite double.
pub fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // 17 significant digits in scientific form: d.dddddddddddddddde±X
    let sci = format!("{:.16e}", v);
    let (mant, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(32);
    if neg {
        out.push('-');
    }
    if (-4..17).contains(&exp) {
        // Fixed notation with 17 - 1 - exp decimals, then trailing zeros removed.
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            out.push_str(&digits[..int_len]);
            let frac = digits[int_len..].trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(digits.trim_end_matches('0'));
        }
    } else {
        out.push_str(&digits[..1]);
        let frac = digits[1..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Redis 7.0's `d2string`: how a zset score is written into a listpack.
pub fn d2string(v: f64) -> Vec<u8> {
    if v.is_finite() && v != 0.0 {
        // double2ll: exact integers within ±LLONG_MAX/2 print as integers.
        let half = (i64::MAX / 2) as f64;
        if (-half..=half).contains(&v) {
            let i = v as i64;
            if i as f64 == v {
                return i64_text(i);
            }
        }
    }
    format_g17(v).into_bytes()
}

/// Parse a score written as text (`strtod` semantics for the forms Redis writes:
/// decimal, exponent, `inf`, `-inf`, `nan`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ints() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"01"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b" 1"), None);
        assert_eq!(parse_canonical_i64(b""), None);
        assert_eq!(parse_canonical_i64(b"-"), None);
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(1e21), "1e+21");
        assert_eq!(format_g17(1e-7), "9.9999999999999995e-08");
        assert_eq!(format_g17(123456789.123), "123456789.123");
        assert_eq!(format_g17(-2.5e-5), "-2.5000000000000001e-05");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(0.0001), "0.0001");
    }

    #[test]
    fn d2string_rules() {
        assert_eq!(d2string(2.0), b"2");
        assert_eq!(d2string(-0.0), b"-0");
        assert_eq!(d2string(0.0), b"0");
        assert_eq!(d2string(f64::INFINITY), b"inf");
        assert_eq!(d2string(1e19), b"1e+19");
    }
}
