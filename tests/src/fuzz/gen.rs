//! The command generator: a seeded random source and a small template language.
//!
//! A template is one command with its optional and alternative parts, e.g.
//! `ZADD {key} [NX|XX] [GT|LT] [CH] ({score} {member})+`:
//!
//! | syntax | meaning |
//! |---|---|
//! | `WORD` | the word itself |
//! | `{name}` | a value drawn by [`Gen::slot`] (keys, members, scores, ids, ...) |
//! | `[a\|b c]` | nothing (about 40% of draws), or one of the alternatives |
//! | `(a\|b c)` | exactly one of the alternatives |
//! | `X+` after a `{..}`, `[..]` or `(..)` | the item 1 to 3 times |
//!
//! Values are mostly valid and small (so that keys collide and types clash),
//! with a share of invalid ones (overflowing integers, bad floats, bad ids) so
//! that error paths are compared too.

/// A seeded pseudo-random source (splitmix64): the same seed gives the same run.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A source started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.abs_diff(lo) + 1;
        lo.wrapping_add_unsigned(self.below(span))
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let n = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let i = usize::try_from(self.below(n)).unwrap_or(0);
        &items[i.min(items.len().saturating_sub(1))]
    }
}

/// One parsed template item.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Word(String),
    Slot(String),
    Optional(Vec<Vec<Item>>),
    Choice(Vec<Vec<Item>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    node: Node,
    repeat: bool,
}

/// A parsed template: the command it starts with and its items.
#[derive(Clone, Debug)]
pub struct Template {
    /// The first word, upper case (for `--only` filters and reports).
    pub command: String,
    /// Relative weight among all templates.
    pub weight: u64,
    items: Vec<Item>,
}

impl Template {
    /// Parses `text`; errors name the position of the problem.
    pub fn parse(text: &str, weight: u64) -> Result<Template, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let items = parse_seq(&chars, &mut pos)?;
        if pos != chars.len() {
            return Err(format!("{text}: unexpected `{}` at {pos}", chars[pos]));
        }
        let command = match items.first().map(|i| &i.node) {
            Some(Node::Word(w)) => w.to_ascii_uppercase(),
            _ => return Err(format!("{text}: must start with a word")),
        };
        Ok(Template {
            command,
            weight,
            items,
        })
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '[' | ']' | '(' | ')' | '{' | '}' | '|') || c.is_whitespace()
}

fn parse_seq(chars: &[char], pos: &mut usize) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    loop {
        while chars.get(*pos).is_some_and(|c| c.is_whitespace()) {
            *pos += 1;
        }
        let Some(&c) = chars.get(*pos) else {
            return Ok(items);
        };
        let node = match c {
            '|' | ']' | ')' => return Ok(items),
            '[' | '(' => {
                *pos += 1;
                let close = if c == '[' { ']' } else { ')' };
                let mut alts = vec![parse_seq(chars, pos)?];
                while chars.get(*pos) == Some(&'|') {
                    *pos += 1;
                    alts.push(parse_seq(chars, pos)?);
                }
                if chars.get(*pos) != Some(&close) {
                    return Err(format!("missing `{close}` at {pos}"));
                }
                *pos += 1;
                if c == '[' {
                    Node::Optional(alts)
                } else {
                    Node::Choice(alts)
                }
            }
            '{' => {
                let start = *pos + 1;
                let len = chars[start..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| format!("missing `}}` after {start}"))?;
                *pos = start + len + 1;
                Node::Slot(chars[start..start + len].iter().collect())
            }
            '}' => return Err(format!("stray `}}` at {pos}")),
            _ => {
                let start = *pos;
                while chars.get(*pos).is_some_and(|&c| !is_special(c)) {
                    *pos += 1;
                }
                Node::Word(chars[start..*pos].iter().collect())
            }
        };
        let repeat = !matches!(node, Node::Word(_)) && chars.get(*pos) == Some(&'+');
        if repeat {
            *pos += 1;
        }
        items.push(Item { node, repeat });
    }
}

/// One generated command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// The arguments, command name first.
    pub args: Vec<Vec<u8>>,
    /// Set when the command gives a key a 1-2 ms expiry: the runner waits a
    /// few milliseconds after it so the key is expired on both servers.
    pub pause: bool,
}

/// Keys every template draws from: few, so types clash and commands meet.
const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5"];

/// Function libraries for `FUNCTION LOAD`: two that load (with write, no-writes,
/// allow-oom functions and ones that fail or return errors), and ones Redis refuses
/// (a syntax error, a bad flag, a name used twice, a bad function name, no function).
const LIBRARIES: &[&str] = &[
    "#!lua name=lib1\n\
     redis.register_function('f_set', function(k, a) return redis.call('SET', k[1], a[1]) end)\n\
     redis.register_function{function_name='f_get', callback=function(k) return redis.call('GET', k[1]) end, flags={'no-writes'}}\n\
     redis.register_function('f_err', function(k, a) return redis.call('INCR', k[1]) end)\n\
     redis.register_function{function_name='f_pcall', callback=function(k, a) return {redis.pcall('LPUSH', k[1], a[1]), redis.pcall('TYPE', k[1])} end, flags={'allow-oom'}}",
    "#!lua name=lib2\n\
     local function helper(x) return x .. '!' end\n\
     redis.register_function('f_echo', function(k, a) return helper(a[1] or '') end)\n\
     redis.register_function{function_name='f_ro', callback=function(k) return redis.pcall('SET', k[1], 'x') end, flags={'no-writes'}}",
    "#!lua name=lib2\nredis.register_function('f_echo', function(k, a) return 'v2' end)",
    "#!lua name=bad1\nredis.register_function('f_x', function() return 1 end",
    "#!lua name=bad2\nredis.register_function{function_name='f_y', callback=function() return 1 end, flags={'bogus'}}",
    "#!lua name=bad3\nredis.register_function('f_set', function() return 1 end)",
    "#!lua name=bad4\nredis.register_function('bad name', function() return 1 end)",
    "#!lua name=bad5\nlocal x = 1",
    "#!lua name=bad6\nredis.call('PING')",
];

/// Lua bodies for `EVAL {script} 1 {key} ARG ARG`: commands called from a script on
/// whatever the key holds, the conversions of their replies both ways (RESP2 and
/// RESP3), errors raised and caught, and the libraries on argument strings. None
/// reads a container whose order is a hash table's (random in Redis).
const SCRIPTS: &[&str] = &[
    "return redis.call('GET', KEYS[1])",
    "return redis.pcall('INCRBYFLOAT', KEYS[1], ARGV[1])",
    "return redis.pcall('INCRBY', KEYS[1], ARGV[1])",
    "return redis.pcall('LRANGE', KEYS[1], 0, -1)",
    "return redis.pcall('LPOP', KEYS[1], ARGV[1])",
    "return redis.pcall('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    "redis.setresp(3) return redis.pcall('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    "redis.setresp(3) return redis.pcall('ZSCORE', KEYS[1], ARGV[1])",
    "redis.setresp(3) return redis.pcall('HGET', KEYS[1], 'f1')",
    "redis.setresp(3) local r = redis.pcall('ZINCRBY', KEYS[1], ARGV[1], 'a') return {type(r), r}",
    "return redis.pcall('XRANGE', KEYS[1], '-', '+', 'COUNT', 3)",
    "return redis.pcall('HMGET', KEYS[1], 'f1', 'f2', ARGV[1])",
    "return redis.pcall('TYPE', KEYS[1])",
    "return redis.pcall('OBJECT', 'ENCODING', KEYS[1])",
    "return redis.pcall('TTL', KEYS[1])",
    "return redis.pcall('EXISTS', KEYS[1], KEYS[1])",
    "return redis.pcall('SETRANGE', KEYS[1], ARGV[1], ARGV[2])",
    "return redis.pcall('BITFIELD', KEYS[1], 'INCRBY', 'i8', 0, ARGV[1], 'GET', 'u4', 4)",
    "return redis.pcall('LPOS', KEYS[1], ARGV[1])",
    "return redis.pcall('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'LIMIT', 0, 3)",
    "return redis.pcall('EXPIRE', KEYS[1], ARGV[1])",
    "return redis.pcall('GETEX', KEYS[1], 'PERSIST')",
    "return redis.pcall('PFCOUNT', KEYS[1])",
    "return redis.pcall('SET', KEYS[1], ARGV[1], 'GET')",
    "return redis.pcall('RPUSH', KEYS[1], ARGV[1], ARGV[2])",
    "return redis.pcall('ZADD', KEYS[1], ARGV[1], ARGV[2])",
    "return redis.pcall('HINCRBYFLOAT', KEYS[1], 'f1', ARGV[1])",
    "return redis.pcall('XADD', KEYS[1], '9-*', 'f', ARGV[1])",
    "return redis.pcall('DEL', KEYS[1])",
    "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('INCR', KEYS[1])",
    "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])",
    "local r = redis.pcall('INCR', KEYS[1]) if type(r) == 'table' then return r.err end return r",
    "local r = redis.pcall('LPOP', KEYS[1]) return {type(r), type(r) == 'table' and r.err or r}",
    "#!lua flags=no-writes\nreturn redis.pcall('GET', KEYS[1])",
    "#!lua\nreturn redis.pcall('SET', KEYS[1], ARGV[1])",
    "#!lua flags=no-writes\nreturn redis.pcall('PFCOUNT', KEYS[1])",
    "return tonumber(ARGV[1])",
    "return {tonumber(ARGV[1]), tostring(tonumber(ARGV[1])), ARGV[2]}",
    "return {1, 2.9, -3.5, true, false, 'x', {err = ARGV[1]}}",
    "return {ok = ARGV[1]}",
    "return {err = ARGV[1]}",
    "return redis.error_reply(ARGV[1])",
    "return redis.status_reply(ARGV[1])",
    "return redis.sha1hex(ARGV[1])",
    "return cjson.encode(redis.pcall('LRANGE', KEYS[1], 0, -1))",
    "return cjson.encode({tonumber(ARGV[1]), ARGV[1]})",
    "return cjson.encode(cjson.decode(ARGV[1]))",
    "return cmsgpack.pack(redis.pcall('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'))",
    "return cmsgpack.unpack(cmsgpack.pack(tonumber(ARGV[1]), ARGV[2]))",
    "return struct.pack('>i2', tonumber(ARGV[1]) or 0)",
    "return bit.band(tonumber(ARGV[1]) or 0, 255)",
    "return string.format('%d %s', tonumber(ARGV[1]) or 0, ARGV[2])",
    "return redis.call(ARGV[1], KEYS[1])",
    "return redis.pcall('EVAL', 'return 1', 0)",
    "return redis.pcall('SUBSCRIBE', ARGV[1])",
];

/// The generator's state: the random source, the stream id clock, DUMP payloads
/// seen so far (for RESTORE).
#[derive(Debug)]
pub struct Gen {
    rng: Rng,
    templates: Vec<Template>,
    total_weight: u64,
    stream_ms: u64,
    dumps: Vec<Vec<u8>>,
    pause: bool,
}

impl Gen {
    /// A generator over `templates` (non-empty) seeded with `seed`.
    pub fn new(seed: u64, templates: Vec<Template>) -> Gen {
        let total_weight = templates.iter().map(|t| t.weight).sum();
        Gen {
            rng: Rng::new(seed),
            templates,
            total_weight,
            stream_ms: 1,
            dumps: Vec::new(),
            pause: false,
        }
    }

    /// Remembers a DUMP payload so later RESTOREs can use it.
    pub fn saw_dump(&mut self, payload: Vec<u8>) {
        if self.dumps.len() >= 16 {
            let i = usize::try_from(self.rng.below(16)).unwrap_or(0);
            self.dumps[i] = payload;
        } else {
            self.dumps.push(payload);
        }
    }

    /// The next command.
    pub fn next_cmd(&mut self) -> Cmd {
        let mut target = self.rng.below(self.total_weight);
        let mut chosen = 0;
        for (i, t) in self.templates.iter().enumerate() {
            if target < t.weight {
                chosen = i;
                break;
            }
            target -= t.weight;
        }
        let items = self.templates[chosen].items.clone();
        self.pause = false;
        let mut args = Vec::new();
        self.expand(&items, &mut args);
        // Now and then, a wrong arity or a stray argument. SPOP keeps its count: without
        // one it pops a random member, which two servers cannot agree on.
        let keeps_arity = args
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"SPOP"));
        if args.len() > 1 && !keeps_arity && self.rng.chance(2) {
            args.pop();
        } else if self.rng.chance(1) {
            args.push(b"extra".to_vec());
        }
        Cmd {
            args,
            pause: self.pause,
        }
    }

    fn expand(&mut self, items: &[Item], out: &mut Vec<Vec<u8>>) {
        for item in items {
            let times = if item.repeat { self.rng.range(1, 3) } else { 1 };
            for _ in 0..times {
                match &item.node {
                    Node::Word(w) => out.push(w.as_bytes().to_vec()),
                    Node::Slot(name) => {
                        let value = self.slot(name);
                        out.push(value);
                    }
                    Node::Optional(alts) => {
                        if !self.rng.chance(40) {
                            let alt = self.rng.pick(alts).clone();
                            self.expand(&alt, out);
                        }
                    }
                    Node::Choice(alts) => {
                        let alt = self.rng.pick(alts).clone();
                        self.expand(&alt, out);
                    }
                }
            }
        }
    }

    fn pick_str(&mut self, items: &[&str]) -> Vec<u8> {
        self.rng.pick(items).as_bytes().to_vec()
    }

    fn int_in(&mut self, lo: i64, hi: i64) -> Vec<u8> {
        self.rng.range(lo, hi).to_string().into_bytes()
    }

    /// Draws a value for `{name}`.
    pub fn slot(&mut self, name: &str) -> Vec<u8> {
        let r = self.rng.below(100);
        match name {
            "key" => self.pick_str(KEYS),
            "val" => match r {
                0..=29 => self.int_in(-3, 30),
                30..=39 => self.pick_str(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "3.5",
                    "1e3",
                    "inf",
                    "-inf",
                    " 12",
                    "012",
                    "",
                    "0x10",
                    "+5",
                    "-0",
                ]),
                40..=74 => self.pick_str(&["a", "b", "c", "hello", "world", "foo bar", "x1"]),
                75..=84 => self.alnum(1, 20),
                85..=91 => vec![b'e'; 44 + usize::from(r.is_multiple_of(2))],
                _ => vec![b'v'; 70 + usize::try_from(r % 3).unwrap_or(0) * 15],
            },
            "member" => match r {
                0..=95 => self.pick_str(&[
                    "a", "b", "c", "d", "e", "f", "1", "2", "3", "10", "-1", "1.5",
                ]),
                _ => vec![b'm'; 70],
            },
            "field" => match r {
                0..=95 => self.pick_str(&["f1", "f2", "f3", "f4", "a", "1"]),
                _ => vec![b'y'; 70],
            },
            "int" => match r {
                0..=74 => self.int_in(-5, 20),
                _ => self.pick_str(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "abc",
                    "1.5",
                    "",
                    "100000",
                ]),
            },
            "count" => match r {
                0..=84 => self.int_in(0, 6),
                _ => self.pick_str(&["-1", "-5", "100", "abc", "9223372036854775807"]),
            },
            "float" | "score" => match r {
                0..=64 => self.pick_str(&["0", "1", "2", "3", "1.5", "-2.5", "10", "0.1", "-1"]),
                65..=89 => self.pick_str(&["inf", "-inf", "+inf", "1e3", "5e-1", "17"]),
                _ => self.pick_str(&["nan", "abc", "", "1e400", "0x1", " 1"]),
            },
            "zrange" => self.pick_str(&[
                "-inf", "+inf", "0", "1", "2", "(1", "(2.5", "5", "(inf", "abc", "(", "10", "1.5",
            ]),
            "lex" => self.pick_str(&["-", "+", "[a", "(b", "[c", "(a", "[1", "a", "[", "(z"]),
            "idx" => match r {
                0..=89 => self.int_in(-6, 6),
                _ => self.pick_str(&["abc", "9223372036854775807", "-9223372036854775808", "100"]),
            },
            "bit" => match r {
                0..=95 => self.int_in(0, 1),
                _ => self.pick_str(&["2", "-1"]),
            },
            // The largest valid offset (4294967295) is left to the corpora: it makes a
            // 512 MB value, and every later read of the key would move it to the harness.
            "bitoff" => match r {
                0..=89 => self.int_in(0, 100),
                _ => self.pick_str(&["200", "-1", "8388607", "4294967296", "abc"]),
            },
            "btype" => self.pick_str(&[
                "i8", "u8", "i16", "u16", "i32", "i64", "u63", "u64", "i0", "x8", "u1", "i1",
            ]),
            "secs" => match r {
                0..=84 => self.int_in(100, 100_000),
                _ => self.pick_str(&[
                    "-1",
                    "0",
                    "abc",
                    "9223372036854775807",
                    "9223372036854775",
                    "1.5",
                ]),
            },
            "pms" => match r {
                0..=9 => {
                    self.pause = true;
                    self.int_in(1, 2)
                }
                10..=84 => self.int_in(100_000, 100_000_000),
                _ => self.pick_str(&["-1", "0", "abc", "9223372036854775807"]),
            },
            "abs" => self.pick_str(&["1", "2000000000", "4000000000", "abc", "-1"]),
            "pabs" => self.pick_str(&["1", "2000000000000", "4000000000000", "abc"]),
            "db" => match r {
                0..=89 => self.int_in(0, 2),
                _ => self.pick_str(&["16", "-1", "x"]),
            },
            "pattern" => self.pick_str(&["*", "k*", "k[0-2]", "?1", "*a*", "k\\*", "[", "k[^0]*"]),
            "btimeout" => self.pick_str(&["0.01", "0.01", "0.02", "0.001", "-1", "abc"]),
            "group" => self.pick_str(&["g1", "g2"]),
            "consumer" => self.pick_str(&["c1", "c2", "c3"]),
            "sid" => self.stream_id(r),
            "xaddid" => self.xadd_id(r),
            "xtrim" => match r {
                0..=69 => self.int_in(0, 5),
                _ => self.stream_id(r),
            },
            "lon" => self.pick_str(&[
                "13.361389",
                "15.087269",
                "-122.27652",
                "0",
                "179.9",
                "-180",
                "180.1",
                "abc",
                "2.349014",
            ]),
            "lat" => self.pick_str(&[
                "38.115556",
                "37.502669",
                "37.805186",
                "0",
                "85.05112878",
                "-85.06",
                "48.864716",
                "abc",
            ]),
            "radius" => self.pick_str(&["1", "100", "200", "5000", "500000", "0", "-1", "abc"]),
            "unit" => self.pick_str(&["m", "km", "mi", "ft", "M", "xx"]),
            "dump" => self.dump_payload(r),
            "byte" => vec![u8::try_from(self.rng.below(256)).unwrap_or(0)],
            "script" => self.pick_str(SCRIPTS),
            "library" => self.pick_str(LIBRARIES),
            other => format!("<unknown slot {other}>").into_bytes(),
        }
    }

    fn alnum(&mut self, min: i64, max: i64) -> Vec<u8> {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let len = self.rng.range(min, max);
        (0..len).map(|_| *self.rng.pick(CHARS)).collect()
    }

    fn stream_id(&mut self, r: u64) -> Vec<u8> {
        let ms = self.stream_ms.saturating_sub(self.rng.below(6));
        let seq = self.rng.below(3);
        match r % 10 {
            0 => self.pick_str(&["-", "+"]),
            1..=4 => format!("{ms}-{seq}").into_bytes(),
            5 => ms.to_string().into_bytes(),
            6 => format!("({ms}-{seq}").into_bytes(),
            7 => self.pick_str(&["0", "0-0", "-", "+"]),
            8 => format!("{ms}-{seq}").into_bytes(),
            _ => self.pick_str(&["abc", "18446744073709551615-18446744073709551615", "1-x"]),
        }
    }

    fn xadd_id(&mut self, r: u64) -> Vec<u8> {
        match r {
            0..=79 => {
                self.stream_ms += self.rng.below(3);
                let ms = self.stream_ms;
                match r % 3 {
                    0 => format!("{ms}-*").into_bytes(),
                    1 => format!("{ms}-{}", self.rng.below(3)).into_bytes(),
                    _ => ms.to_string().into_bytes(),
                }
            }
            80..=89 => format!("{}-0", self.stream_ms.saturating_sub(1)).into_bytes(),
            _ => self.pick_str(&["0-0", "0-1", "abc", "1-18446744073709551615", "-1"]),
        }
    }

    fn dump_payload(&mut self, r: u64) -> Vec<u8> {
        if self.dumps.is_empty() {
            return b"\x00garbage".to_vec();
        }
        let mut payload = self.rng.pick(&self.dumps).clone();
        match r {
            0..=79 => {}
            80..=89 => {
                let n = u64::try_from(payload.len()).unwrap_or(1);
                let i = usize::try_from(self.rng.below(n)).unwrap_or(0);
                payload[i] ^= 1 << self.rng.below(8);
            }
            _ => {
                let n = u64::try_from(payload.len()).unwrap_or(1);
                payload.truncate(usize::try_from(self.rng.below(n)).unwrap_or(0));
            }
        }
        payload
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_to_their_words_and_slots() {
        let t = Template::parse("ZADD {key} [NX|XX] ({score} {member})+", 1).unwrap();
        assert_eq!(t.command, "ZADD");
        let mut g = Gen::new(7, vec![t]);
        for _ in 0..200 {
            let cmd = g.next_cmd();
            assert_eq!(cmd.args[0], b"ZADD");
            assert!(KEYS
                .iter()
                .any(|k| cmd.args.get(1) == Some(&k.as_bytes().to_vec())));
            assert!(cmd.args.len() <= 10, "{:?}", cmd.args);
        }
    }

    #[test]
    fn broken_templates_are_rejected() {
        assert!(Template::parse("GET [a|b", 1).is_err());
        assert!(Template::parse("GET {key", 1).is_err());
        assert!(Template::parse("[a] GET", 1).is_err());
        assert!(Template::parse("GET a)", 1).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_commands() {
        let t = || vec![Template::parse("SET {key} {val} [EX {secs}|PX {pms}]", 1).unwrap()];
        let (mut a, mut b) = (Gen::new(3, t()), Gen::new(3, t()));
        for _ in 0..100 {
            assert_eq!(a.next_cmd(), b.next_cmd());
        }
    }
}
