//! What the blocking commands share: the timeout argument (Redis's
//! `getTimeoutFromObjectOrReply`) and the reply a command gives instead of blocking when it
//! may not block (inside MULTI/EXEC, on the master's stream).

use tandem_keyspace::Millis;

use super::{ExecCtx, TimeoutReply};

/// Error texts of the timeout argument, as Redis 7.0.15 spells them.
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const TIMEOUT_OUT_OF_RANGE: &str = "ERR timeout is out of range";

/// A timeout in seconds (BLPOP, BZPOPMIN, ...: a float): the absolute deadline, or `None`
/// for 0 (block forever). Like Redis: strtold syntax without leading space, no NaN, the
/// milliseconds rounded up, negative refused.
pub fn timeout_secs(arg: &[u8], now: Millis) -> Result<Option<Millis>, &'static str> {
    let secs = parse_float(arg).ok_or(TIMEOUT_NOT_FLOAT)?;
    let ms = (secs * 1000.0).ceil();
    if ms >= i64::MAX as f64 {
        // Redis converts with a C cast, which gives LLONG_MIN on x86-64: "negative".
        return Err(TIMEOUT_NEGATIVE);
    }
    deadline(ms as i64, now)
}

/// A timeout in milliseconds (XREAD / XREADGROUP BLOCK: an integer).
pub fn timeout_millis(arg: &[u8], now: Millis) -> Result<Option<Millis>, &'static str> {
    let ms = tandem_resp::num::string2ll(arg).ok_or(TIMEOUT_NOT_INTEGER)?;
    deadline(ms, now)
}

fn deadline(ms: i64, now: Millis) -> Result<Option<Millis>, &'static str> {
    if ms < 0 {
        return Err(TIMEOUT_NEGATIVE);
    }
    if ms == 0 {
        return Ok(None);
    }
    ms.checked_add(now).map(Some).ok_or(TIMEOUT_OUT_OF_RANGE)
}

/// strtold's syntax as Redis accepts it for a timeout: decimal or hex float, `inf`,
/// `infinity`; no leading space, no trailing bytes, no NaN.
fn parse_float(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let unsigned = s.trim_start_matches(['+', '-']);
    let lower = unsigned.to_ascii_lowercase();
    let v: f64 = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower.starts_with("nan") {
        return None;
    } else if let Some(hex) = lower.strip_prefix("0x") {
        // Hex integers (strtold also takes hex fractions; not supported here).
        u64::from_str_radix(hex, 16).ok()? as f64
    } else {
        // Rust's grammar is strtod's decimal grammar minus hex and NaN; it also takes
        // "inf"/"infinity" which were handled above.
        unsigned.parse().ok()?
    };
    Some(if s.starts_with('-') { -v } else { v })
}

/// The reply a blocking command gives when it cannot block (or its timeout passed).
pub fn reply_timeout(ctx: &mut ExecCtx<'_, '_>, what: TimeoutReply) {
    match what {
        TimeoutReply::NullArray => ctx.enc.null_array(),
        TimeoutReply::NullBulk => ctx.enc.null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(timeout_secs(b"0", 1000), Ok(None));
        assert_eq!(timeout_secs(b"1.5", 1000), Ok(Some(2500)));
        assert_eq!(timeout_secs(b"0.0001", 1000), Ok(Some(1001)));
        assert_eq!(timeout_secs(b"-1", 0), Err(TIMEOUT_NEGATIVE));
        assert_eq!(timeout_secs(b"abc", 0), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(timeout_secs(b" 1", 0), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(timeout_secs(b"nan", 0), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(timeout_secs(b"inf", 0), Err(TIMEOUT_NEGATIVE));
        assert_eq!(timeout_secs(b"0x10", 0), Ok(Some(16_000)));
    }

    #[test]
    fn millis() {
        assert_eq!(timeout_millis(b"0", 5), Ok(None));
        assert_eq!(timeout_millis(b"10", 5), Ok(Some(15)));
        assert_eq!(timeout_millis(b"-1", 5), Err(TIMEOUT_NEGATIVE));
        assert_eq!(timeout_millis(b"1.5", 5), Err(TIMEOUT_NOT_INTEGER));
    }
}
