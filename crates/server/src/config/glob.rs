//! Glob matching for CONFIG GET patterns and `include` wildcards: Redis's
//! `stringmatchlen`, shared with the rest of Tandem through the commands crate.

/// True when `s` matches glob `pattern` (ASCII case-insensitive when `nocase`).
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    tandem_commands::glob::string_match(pattern, s, nocase)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        // Like Redis, an empty string never matches a non-empty pattern.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("*", "abc"));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*d", "abc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
        assert!(m("a**", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("a[bc", "ab"));
        assert!(!m("a[bc", "abc"));
        assert!(!m("[", "x"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\", "a\\"));
        assert!(glob_match(b"PORT", b"port", true));
        assert!(!glob_match(b"PORT", b"port", false));
        assert!(glob_match(b"[A-C]x", b"bx", true));
        assert!(glob_match(b"*MAX*", b"maxmemory", true));
    }

    #[test]
    fn pathological_pattern_terminates() {
        let s = "a".repeat(60);
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*a*b", &s));
    }
}
