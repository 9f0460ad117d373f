//! Unit tests of the stream commands' argument rules.

use super::*;

#[test]
fn ids_parse_as_redis() {
    assert_eq!(parse_id(b"5", 0).ok(), Some(StreamId::new(5, 0)));
    assert_eq!(
        parse_id(b"5", u64::MAX).ok(),
        Some(StreamId::new(5, u64::MAX))
    );
    assert_eq!(parse_id(b"5-3", 0).ok(), Some(StreamId::new(5, 3)));
    assert_eq!(parse_id(b"-", 0).ok(), Some(StreamId::new(0, 0)));
    assert_eq!(
        parse_id(b"+", 0).ok(),
        Some(StreamId::new(u64::MAX, u64::MAX))
    );
    assert!(parse_strict_id(b"-", 0).is_err());
    assert!(parse_strict_id(b"+", 0).is_err());
    // strtoull's leniency: leading zeros, spaces, a sign.
    assert_eq!(parse_id(b"007-1", 0).ok(), Some(StreamId::new(7, 1)));
    assert_eq!(parse_id(b" 7", 0).ok(), Some(StreamId::new(7, 0)));
    assert_eq!(parse_id(b"+7", 0).ok(), Some(StreamId::new(7, 0)));
    assert!(parse_id(b"-1", 0).is_err());
    assert!(parse_id(b"5-", 0).is_err());
    assert!(parse_id(b"abc", 0).is_err());
    assert_eq!(
        parse_id(b"18446744073709551615-18446744073709551615", 0).ok(),
        Some(StreamId::new(u64::MAX, u64::MAX))
    );
    assert!(parse_id(b"18446744073709551616", 0).is_err());
    let mut given = true;
    assert_eq!(
        parse_id_generic(b"5-*", 0, IdMode::Strict, Some(&mut given)).ok(),
        Some(StreamId::new(5, 0))
    );
    assert!(!given);
}

#[test]
fn interval_bounds() {
    assert_eq!(
        parse_interval(b"(5-0", true).ok(),
        Some(StreamId::new(5, 1))
    );
    assert_eq!(
        parse_interval(b"(5-0", false).ok(),
        Some(StreamId::new(4, u64::MAX))
    );
    assert!(parse_interval(b"(0-0", false).is_err());
    assert!(parse_interval(b"(-", true).is_err());
}
