//! REPLCONF: what a replica tells its master before (and after) PSYNC.
//!
//! Before PSYNC a replica is an ordinary client that declares its listening port, maybe an
//! announced address, its capabilities (`eof`: accepts a diskless `$EOF:` transfer;
//! `psync2`: understands `+CONTINUE <replid>`) and, for tools such as `redis-cli --rdb`,
//! that it wants only the RDB (`rdb-only`) or a filtered one (`rdb-filter-only`).
//! [`apply`] interprets one REPLCONF command against a connection's [`ReplConf`] the way
//! Redis 7.0.15's `replconfCommand` does: options are applied in order, the first bad one
//! answers an error (earlier ones stay applied), and `ACK` / `GETACK` answer nothing.

use bytes::Bytes;

/// Longest `ip-address` Redis accepts (`NET_HOST_STR_LEN` is 256, including the NUL).
const NET_HOST_STR_LEN: usize = 256;

/// `rdb-filter-only` bits (Redis's `SLAVE_REQ_RDB_EXCLUDE_*`).
pub const REQ_RDB_EXCLUDE_DATA: u8 = 1;
/// Functions are excluded too (`rdb-filter-only ""`).
pub const REQ_RDB_EXCLUDE_FUNCTIONS: u8 = 2;

/// What a connection declared with REPLCONF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplConf {
    /// `listening-port` (0 when never sent; Redis keeps whatever `long` it was given).
    pub listening_port: i64,
    /// `ip-address`, when announced.
    pub ip_address: Option<String>,
    /// `capa eof`.
    pub capa_eof: bool,
    /// `capa psync2`.
    pub capa_psync2: bool,
    /// `rdb-only 1`.
    pub rdb_only: bool,
    /// `rdb-filter-only` requirements (`REQ_RDB_*` bits; 0 = the whole dataset).
    pub req: u8,
}

/// The answer to one REPLCONF command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplconfReply {
    /// `+OK`.
    Ok,
    /// Nothing at all (`ACK`, `GETACK`).
    None,
    /// An error; the text has no leading `-`.
    Error(String),
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's `getLongFromObject`: the whole argument must be a canonical integer.
fn parse_long(b: &[u8]) -> Option<i64> {
    tandem_resp::num::string2ll(b)
}

/// Interprets `REPLCONF <option> <value> ...` (`args[0]` is the command name) for a
/// connection that is not (yet) a replica. ACKs from a connection that is a replica are
/// read by its link task, never here; an ACK seen here is ignored, as Redis ignores ACKs
/// from clients that are not replicas.
pub fn apply(conf: &mut ReplConf, args: &[Bytes]) -> ReplconfReply {
    if args.len().is_multiple_of(2) {
        return ReplconfReply::Error("ERR syntax error".into());
    }
    for pair in args[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("listening-port") {
            match parse_long(val) {
                Some(p) => conf.listening_port = p,
                None => {
                    return ReplconfReply::Error(
                        "ERR value is not an integer or out of range".into(),
                    )
                }
            }
        } else if is("ip-address") {
            if val.len() < NET_HOST_STR_LEN {
                conf.ip_address = Some(lossy(val));
            } else {
                return ReplconfReply::Error(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                ));
            }
        } else if is("capa") {
            if val.eq_ignore_ascii_case(b"eof") {
                conf.capa_eof = true;
            } else if val.eq_ignore_ascii_case(b"psync2") {
                conf.capa_psync2 = true;
            }
        } else if is("ack") || is("getack") {
            // ACK from a non-replica, or GETACK sent to a master: no reply at all.
            return ReplconfReply::None;
        } else if is("rdb-only") {
            match parse_long(val) {
                Some(v @ 0..=1) => conf.rdb_only = v == 1,
                Some(_) => {
                    return ReplconfReply::Error(
                        "ERR value is out of range, value must between 0 and 1".into(),
                    )
                }
                None => {
                    return ReplconfReply::Error(
                        "ERR value is not an integer or out of range".into(),
                    )
                }
            }
        } else if is("rdb-filter-only") {
            let Ok(filters) = tandem_resp::split_args(val) else {
                return ReplconfReply::Error("ERR Missing rdb-filter-only values".into());
            };
            conf.req |= REQ_RDB_EXCLUDE_DATA | REQ_RDB_EXCLUDE_FUNCTIONS;
            for f in filters {
                if f.eq_ignore_ascii_case(b"functions") {
                    conf.req &= !REQ_RDB_EXCLUDE_FUNCTIONS;
                } else {
                    return ReplconfReply::Error(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        lossy(&f)
                    ));
                }
            }
        } else {
            return ReplconfReply::Error(format!(
                "ERR Unrecognized REPLCONF option: {}",
                lossy(opt)
            ));
        }
    }
    ReplconfReply::Ok
}

/// The offset of a `REPLCONF ACK <offset> [FACK <aofoffset>]` sent by a replica, if these
/// arguments are one (case-insensitive; a malformed offset is ignored, as in Redis).
pub fn ack_offset(args: &[Bytes]) -> Option<i64> {
    if args.len() < 3 || !args[0].eq_ignore_ascii_case(b"replconf") {
        return None;
    }
    let mut found = None;
    for pair in args[1..].chunks(2) {
        if pair.len() == 2 && pair[0].eq_ignore_ascii_case(b"ack") {
            found = parse_long(&pair[1]);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn handshake_options() {
        let mut c = ReplConf::default();
        let r = apply(&mut c, &args(&["REPLCONF", "listening-port", "6380"]));
        assert_eq!(r, ReplconfReply::Ok);
        let r = apply(
            &mut c,
            &args(&["replconf", "capa", "eof", "capa", "psync2", "capa", "x"]),
        );
        assert_eq!(r, ReplconfReply::Ok);
        assert_eq!(c.listening_port, 6380);
        assert!(c.capa_eof && c.capa_psync2);
        let r = apply(&mut c, &args(&["REPLCONF", "ip-address", "10.0.0.1"]));
        assert_eq!(r, ReplconfReply::Ok);
        assert_eq!(c.ip_address.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn errors_like_redis() {
        let mut c = ReplConf::default();
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "listening-port"])),
            ReplconfReply::Error("ERR syntax error".into())
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "foo", "bar"])),
            ReplconfReply::Error("ERR Unrecognized REPLCONF option: foo".into())
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "listening-port", "x"])),
            ReplconfReply::Error("ERR value is not an integer or out of range".into())
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "rdb-only", "2"])),
            ReplconfReply::Error("ERR value is out of range, value must between 0 and 1".into())
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "rdb-filter-only", "keys"])),
            ReplconfReply::Error("ERR Unsupported rdb-filter-only option: keys".into())
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "rdb-filter-only", "\"x"])),
            ReplconfReply::Error("ERR Missing rdb-filter-only values".into())
        );
        let long = "a".repeat(300);
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "ip-address", &long])),
            ReplconfReply::Error(
                "ERR REPLCONF ip-address provided by replica instance is too long: 300 bytes"
                    .into()
            )
        );
    }

    #[test]
    fn ack_and_getack_answer_nothing() {
        let mut c = ReplConf::default();
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "ACK", "10"])),
            ReplconfReply::None
        );
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "GETACK", "*"])),
            ReplconfReply::None
        );
        assert_eq!(ack_offset(&args(&["REPLCONF", "ACK", "42"])), Some(42));
        assert_eq!(
            ack_offset(&args(&["REPLCONF", "ACK", "42", "FACK", "7"])),
            Some(42)
        );
        assert_eq!(ack_offset(&args(&["REPLCONF", "ACK", "x"])), None);
        assert_eq!(ack_offset(&args(&["PING"])), None);
    }

    #[test]
    fn filters() {
        let mut c = ReplConf::default();
        assert_eq!(
            apply(&mut c, &args(&["REPLCONF", "rdb-filter-only", ""])),
            ReplconfReply::Ok
        );
        assert_eq!(c.req, REQ_RDB_EXCLUDE_DATA | REQ_RDB_EXCLUDE_FUNCTIONS);
        let mut c = ReplConf::default();
        apply(&mut c, &args(&["REPLCONF", "rdb-filter-only", "functions"]));
        assert_eq!(c.req, REQ_RDB_EXCLUDE_DATA);
        apply(&mut c, &args(&["REPLCONF", "rdb-only", "1"]));
        assert!(c.rdb_only);
    }
}
