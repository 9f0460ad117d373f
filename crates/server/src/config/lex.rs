//! Lexical helpers with Redis's exact rules: argument splitting
//! (`sdssplitargs`), quoting (`sdscatrepr`), and the number parsers the
//! configuration code uses (`string2ll`, `memtoull`, C `strtoll`).
//!
//! Splitting, quoting and `string2ll` come from the RESP crate (inline commands follow the
//! same rules); the parsers only configuration needs are here.

/// Argument splitting and quoting are Redis's `sdssplitargs` / `sdscatrepr`, shared with
/// inline commands through the RESP crate.
pub(crate) use tandem_resp::{num::string2ll, repr, split_args};

/// C `isspace`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// C `strtoll(s, &end, 10)`: returns the value (saturated on overflow) and
/// whether the whole string was consumed (`*end == '\0'`). Like C, a string
/// with no digits at all consumes nothing, so `""` counts as fully consumed.
pub(crate) fn strtoll(s: &[u8]) -> (i64, bool) {
    let mut p = 0;
    while p < s.len() && is_c_space(s[p]) {
        p += 1;
    }
    let mut neg = false;
    if p < s.len() && (s[p] == b'+' || s[p] == b'-') {
        neg = s[p] == b'-';
        p += 1;
    }
    let start = p;
    let mut v: i128 = 0;
    while p < s.len() && s[p].is_ascii_digit() {
        if v <= i128::from(i64::MAX) + 1 {
            v = v * 10 + i128::from(s[p] - b'0');
        }
        p += 1;
    }
    if p == start {
        // No conversion: end pointer is the start of the string.
        return (0, s.is_empty());
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    (v, p == s.len())
}

/// Redis's `memtoull`: digits followed by an optional unit (b, k, kb, m, mb,
/// g, gb; case-insensitive). `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb`
/// powers of 1024. A leading `-` is an error.
pub(crate) fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = s[digits..].to_ascii_lowercase();
    let mul: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    // strtoull saturates at ULLONG_MAX on overflow; the product wraps like C.
    let mut v: u64 = 0;
    for &c in &s[..digits] {
        v = v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(v.wrapping_mul(mul))
}

/// Formats a byte count the way CONFIG REWRITE does (gb, mb, kb when exact).
pub(crate) fn format_memory(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// `printf("%f")` followed by Redis's `trimDoubleString`.
pub(crate) fn format_percentile(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// The text of an OS error without Rust's " (os error N)" suffix, i.e. C's
/// `strerror(errno)`.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Vec<String> {
        split_args(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect()
    }

    #[test]
    fn split_plain_and_quotes() {
        assert_eq!(sa("  save 900 1  "), vec!["save", "900", "1"]);
        assert_eq!(sa("a \"b c\" 'd e'"), vec!["a", "b c", "d e"]);
        assert_eq!(sa("x \"\""), vec!["x", ""]);
        assert_eq!(sa("x \"a\\nb\\x41\\\"\""), vec!["x", "a\nbA\""]);
        assert_eq!(sa("x 'it\\'s'"), vec!["x", "it's"]);
        assert_eq!(sa("x 'a\\nb'"), vec!["x", "a\\nb"]);
        assert_eq!(sa("x\"y\""), vec!["xy"]);
        assert_eq!(sa("x \"\\xZZ\""), vec!["x", "xZZ"]);
        assert!(sa("").is_empty());
        assert!(split_args(b"x \"abc").is_err());
        assert!(split_args(b"x \"abc\"d").is_err());
        assert!(split_args(b"x 'abc").is_err());
        assert!(split_args(b"x 'abc'd").is_err());
    }

    #[test]
    fn repr_roundtrip() {
        let raw = b"a \"b\"\\\n\t\x01\xff";
        let q = repr(raw);
        assert_eq!(q, b"\"a \\\"b\\\"\\\\\\n\\t\\x01\\xff\"".to_vec());
        assert_eq!(split_args(&q).unwrap(), vec![raw.to_vec()]);
    }

    #[test]
    fn numbers() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-5"), Some(-5));
        assert_eq!(string2ll(b"007"), None);
        assert_eq!(string2ll(b"+5"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtoll(b"010"), (10, true));
        assert_eq!(strtoll(b""), (0, true));
        assert_eq!(strtoll(b"a"), (0, false));
        assert_eq!(strtoll(b"5x"), (5, false));
        assert_eq!(memtoull(b"1mb"), Some(1 << 20));
        assert_eq!(memtoull(b"1M"), Some(1_000_000));
        assert_eq!(memtoull(b"3GB"), Some(3 << 30));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"12x"), None);
        assert_eq!(format_memory(256 << 20), "256mb");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(50.0), "50");
    }
}
