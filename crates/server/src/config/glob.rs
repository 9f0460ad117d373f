//! Redis-style glob matching (`stringmatchlen` in Redis's `util.c`).
//!
//! Used by `CONFIG GET` here, and by the server for `KEYS`, `SCAN MATCH`,
//! `PSUBSCRIBE`, `CLIENT KILL` and friends. The rules are Redis's, not the
//! shell's:
//!
//! * `*` matches any run of bytes (also empty), `?` exactly one byte;
//! * `[abc]`, `[^abc]`, `[a-z]` (a reversed range `[z-a]` works too), and `\x`
//!   inside a class matches `x` literally; an unclosed `[` ends the class at the
//!   end of the pattern;
//! * `\x` outside a class matches `x` literally;
//! * with `nocase`, letters are compared ASCII case-insensitively.
//!
//! The matcher works on bytes and never allocates; like Redis it gives up early
//! on a `*` that cannot lead to a match, which bounds the work on hostile
//! patterns such as `*a*a*a*a*b`.

/// Returns true when `s` matches the glob `pattern` (Redis semantics).
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, s, nocase, &mut skip_longer)
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(pattern: &[u8], string: &[u8], nocase: bool, skip_longer: &mut bool) -> bool {
    let mut p = 0usize; // index into pattern
    let mut s = 0usize; // index into string
    let plen = pattern.len();
    let slen = string.len();

    while p < plen && s < slen {
        match pattern[p] {
            b'*' => {
                while p + 1 < plen && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == plen {
                    return true;
                }
                while s < slen {
                    if match_impl(&pattern[p + 1..], &string[s..], nocase, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s += 1;
            }
            b'[' => {
                p += 1;
                let not = p < plen && pattern[p] == b'^';
                if not {
                    p += 1;
                }
                let c = string[s];
                let mut matched = false;
                loop {
                    if p >= plen {
                        // Unclosed class: Redis steps back so that the final
                        // increment below lands on the end of the pattern.
                        p = plen.saturating_sub(1);
                        break;
                    }
                    if pattern[p] == b'\\' && plen - p >= 2 {
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if pattern[p] == b']' {
                        break;
                    } else if plen - p >= 3 && pattern[p + 1] == b'-' {
                        let mut start = pattern[p];
                        let mut end = pattern[p + 2];
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let (start, end, ch) =
                            (fold(start, nocase), fold(end, nocase), fold(c, nocase));
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if fold(pattern[p], nocase) == fold(c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            b'\\' => {
                if plen - p >= 2 {
                    p += 1;
                }
                if fold(pattern[p], nocase) != fold(string[s], nocase) {
                    return false;
                }
                s += 1;
            }
            other => {
                if fold(other, nocase) != fold(string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == slen {
            while p < plen && pattern[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= plen && s == slen
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
