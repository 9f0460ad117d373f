//! The number SORT sees in a string: C's `strtod` as glibc implements it, and Redis's test
//! of the result (`eptr[0] != '\0' || errno == ERANGE || isnan(score)` is an error).
//!
//! `strtod` skips leading white space, takes an optional sign, then `inf`/`infinity`,
//! `nan` (always refused here), a hex float (`0x1.8p3`) or a decimal one (`.5`, `5.`,
//! `1e5`); the string must end where the number ends, C-string style (an embedded NUL ends
//! the string). Nothing converted at all leaves the end pointer at the start, so the empty
//! string is the number 0 while `" "` is an error. Overflow and underflow (a result that is
//! infinite, zero or subnormal when the text was not) set `ERANGE`.

/// The score of `text` for a numeric SORT, or `None` when Redis flags a conversion error.
pub fn sort_score(text: &[u8]) -> Option<f64> {
    let s = match text.iter().position(|&c| c == 0) {
        Some(i) => &text[..i],
        None => text,
    };
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let rest = &s[i..];
    let (value, used) = if starts_with_ci(rest, b"inf") {
        let used = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        (f64::INFINITY, used)
    } else if starts_with_ci(rest, b"nan") {
        return None;
    } else if let Some(r) = hex(rest) {
        r
    } else if let Some(r) = decimal(rest) {
        r
    } else {
        // No conversion: the end pointer stays at the start of the string.
        return if s.is_empty() { Some(0.0) } else { None };
    };
    if i + used != s.len() {
        return None;
    }
    Some(if neg { -value } else { value })
}

fn starts_with_ci(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

fn digits(s: &[u8], from: usize, hex: bool) -> usize {
    let mut i = from;
    while i < s.len() && (s[i].is_ascii_digit() || (hex && s[i].is_ascii_hexdigit())) {
        i += 1;
    }
    i
}

/// An exponent (`e`/`p`, optional sign, digits) at `at`: its end, or `at` when there is no
/// complete exponent (strtod then stops before the letter).
fn exponent(s: &[u8], at: usize, letter: u8) -> usize {
    if at >= s.len() || s[at].to_ascii_lowercase() != letter {
        return at;
    }
    let mut j = at + 1;
    if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
        j += 1;
    }
    let end = digits(s, j, false);
    if end > j {
        end
    } else {
        at
    }
}

/// A decimal float without sign: its value and the bytes it used; `None` when there are no
/// digits or when glibc would set ERANGE ([`range_ok`]).
fn decimal(s: &[u8]) -> Option<(f64, usize)> {
    let int_end = digits(s, 0, false);
    let mut end = int_end;
    let mut frac_digits = 0;
    if end < s.len() && s[end] == b'.' {
        let frac_end = digits(s, end + 1, false);
        frac_digits = frac_end - end - 1;
        if int_end > 0 || frac_digits > 0 {
            end = frac_end;
        }
    }
    if int_end == 0 && frac_digits == 0 {
        return None;
    }
    let mant_end = end;
    end = exponent(s, end, b'e');
    let text = std::str::from_utf8(&s[..end]).ok()?;
    // Rust's parser takes exactly this grammar ("5.", ".5", "1e5") and rounds correctly,
    // as glibc does.
    let v: f64 = text.parse().ok()?;
    let nonzero = s[..mant_end].iter().any(|c| (b'1'..=b'9').contains(c));
    Some((range_ok(v, nonzero)?, end))
}

/// A hex float without sign (`0x` then hex digits, optional fraction, optional `p`
/// exponent), or `None` when `s` does not start with one.
fn hex(s: &[u8]) -> Option<(f64, usize)> {
    if s.len() < 3 || s[0] != b'0' || (s[1] != b'x' && s[1] != b'X') {
        return None;
    }
    let int_end = digits(s, 2, true);
    let mut end = int_end;
    let mut frac_end = int_end;
    if end < s.len() && s[end] == b'.' {
        frac_end = digits(s, end + 1, true);
    }
    let has_int = int_end > 2;
    let has_frac = frac_end > int_end + 1;
    if !has_int && !has_frac {
        return None;
    }
    if has_frac || (frac_end == int_end + 1 && has_int) {
        end = frac_end;
    }
    // Mantissa: the first 15 significant hex digits exactly, the rest as a sticky bit.
    let mut mant: u64 = 0;
    let mut scale: i64 = 0;
    let mut used = 0;
    let mut sticky = false;
    let mut nonzero = false;
    for (k, &c) in s[2..end].iter().enumerate() {
        if c == b'.' {
            continue;
        }
        let d = u64::from((c as char).to_digit(16).unwrap_or(0) as u8);
        nonzero |= d != 0;
        let in_frac = 2 + k > int_end;
        if used < 15 {
            if mant != 0 || d != 0 {
                used += 1;
            }
            mant = mant * 16 + d;
            if in_frac {
                scale -= 4;
            }
        } else {
            sticky |= d != 0;
            if !in_frac {
                scale += 4;
            }
        }
    }
    let exp_end = exponent(s, end, b'p');
    if exp_end > end {
        let e: i64 = std::str::from_utf8(&s[end + 1..exp_end])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(if s[end + 1] == b'-' {
                i64::MIN / 4
            } else {
                i64::MAX / 4
            });
        scale = scale.saturating_add(e);
        end = exp_end;
    }
    let m = (mant << 1 | u64::from(sticky)) as f64 / 2.0;
    let v = m * 2f64.powi(scale.clamp(-2000, 2000) as i32);
    Some((range_ok(v, nonzero)?, end))
}

/// `None` when glibc would set ERANGE: overflow to infinity, or underflow to zero or a
/// subnormal from a non-zero text.
fn range_ok(v: f64, nonzero: bool) -> Option<f64> {
    if v.is_infinite() {
        return None;
    }
    if nonzero && (v == 0.0 || v.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::sort_score;

    #[test]
    fn accepted_like_glibc() {
        for (t, v) in [
            ("inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("  5", 5.0),
            ("5\0x", 5.0),
            ("0x1p3", 8.0),
            ("0x1.8p1", 3.0),
            ("0X1P-2", 0.25),
            ("0x10", 16.0),
            ("-0", 0.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+3", 3.0),
            ("\t7", 7.0),
            ("\x0b3", 3.0),
            ("", 0.0),
            ("1E5", 1e5),
        ] {
            assert_eq!(sort_score(t.as_bytes()), Some(v), "{t:?}");
        }
    }

    #[test]
    fn refused_like_redis() {
        for t in [
            "nan", "-nan", "1e", "1e+", "0x", " ", "1_0", "1e-310", "1e-400", "1e309", "1 ", "-",
            ".", "abc", "0x1p", "1..2",
        ] {
            assert_eq!(sort_score(t.as_bytes()), None, "{t:?}");
        }
    }
}
