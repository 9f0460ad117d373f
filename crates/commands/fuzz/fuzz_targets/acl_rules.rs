//! Fuzz the ACL rule parser (ACL SETUSER arguments, `user` directives, ACL file lines).
//!
//! The input is a line of rules, split as an ACL file line is (spaces, then selectors
//! joined). Whatever the rules, applying them must not panic, and a user that took them
//! must be described so that the description, applied to a fresh user, gives the same
//! user back (Redis checks this on every description). Patterns with parentheses are
//! left out of the round trip: `&a)` inside a selector ends it early, in Redis too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_commands::acl::{from_description, merge_selectors, User};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<&str> = line.split(' ').collect();
    let Ok(rules) = merge_selectors(&words) else {
        return;
    };
    let mut u = User::new("fuzz", false);
    for r in &rules {
        let _ = u.apply(r, false);
    }
    let described = u.describe();
    // A parenthesis in a pattern reads as a selector's edge, a quote or backslash inside
    // a selector as quoting: such descriptions do not read back, in Redis either.
    let n = u.selectors().len();
    if described.matches('(').count() != n
        || described.matches(')').count() != n
        || (n > 0 && described.contains(['"', '\'', '\\']))
    {
        return;
    }
    let back = from_description("fuzz", &described).expect("a description applies");
    assert_eq!(back.describe(), described);
    assert_eq!(back, u);
});
