//! Redis's glob matcher (`stringmatchlen` of 7.0.15), used by `COMMAND LIST FILTERBY PATTERN`.
//!
//! Supports `*`, `?`, `[...]` (with `^` negation, `a-z` ranges, `\` escapes) and `\`
//! escapes, with Redis's exact treatment of malformed patterns (an unterminated `[`
//! and a trailing `\`). Reads past the end of the pattern behave as Redis's reads of
//! the terminating NUL byte.

/// True when `string` matches glob `pattern` (ASCII case-insensitive when `nocase`).
pub fn string_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer)
}

fn lower(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(pattern: &[u8], string: &[u8], nocase: bool, skip_longer: &mut bool) -> bool {
    // `at(i)` mirrors reading pattern[i] in C, where the byte after the end is NUL.
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let mut p = 0usize;
    let mut s = 0usize;
    let plen = |p: usize| pattern.len().saturating_sub(p);
    while plen(p) > 0 && s < string.len() {
        match at(p) {
            b'*' => {
                while plen(p) > 0 && at(p + 1) == b'*' {
                    p += 1;
                }
                if plen(p) == 1 {
                    return true;
                }
                while s < string.len() {
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
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    if at(p) == b'\\' && plen(p) >= 2 {
                        p += 1;
                        if at(p) == string[s] {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if plen(p) == 0 {
                        p -= 1;
                        break;
                    } else if plen(p) >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (at(p), at(p + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let (start, end, c) = (
                            lower(start, nocase),
                            lower(end, nocase),
                            lower(string[s], nocase),
                        );
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if lower(at(p), nocase) == lower(string[s], nocase) {
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
            c => {
                let c = if c == b'\\' && plen(p) >= 2 {
                    p += 1;
                    at(p)
                } else {
                    c
                };
                if lower(c, nocase) != lower(string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    plen(p) == 0 && pattern.len() >= p && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::string_match;

    #[test]
    fn basics() {
        assert!(string_match(b"*", b"client|kill", true));
        assert!(string_match(b"client|*", b"CLIENT|kill", true));
        assert!(string_match(b"c?ient", b"client", false));
        assert!(!string_match(b"c?ient", b"clint", false));
        assert!(string_match(b"[a-c]*", b"config", false));
        assert!(!string_match(b"[^a-c]*", b"config", false));
        assert!(string_match(b"h\\*", b"h*", false));
        assert!(!string_match(b"h\\*", b"hx", false));
        assert!(string_match(b"a**", b"a", false));
        assert!(!string_match(b"[", b"a", false));
        assert!(string_match(b"[^", b"a", false));
        assert!(!string_match(b"", b"a", false));
        assert!(!string_match(b"a", b"", false));
    }
}
