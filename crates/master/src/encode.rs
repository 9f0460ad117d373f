//! The replication stream's byte format.
//!
//! A master feeds its replicas (and its backlog) the commands it propagates as RESP
//! multibulk requests, exactly as a client would have sent them: `*<argc>\r\n` then
//! `$<len>\r\n<arg>\r\n` per argument (Redis's `replicationFeedSlaves`). Every byte counts
//! toward `master_repl_offset`, so the encoding must be byte-identical to Redis's; the
//! multibulk writer itself is `tandem_resp::encode_command`.

use bytes::BytesMut;

/// Appends `argv` as a RESP multibulk request to `out`.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, argv: &[A]) {
    tandem_resp::encode_command(argv, out);
}

/// Appends `SELECT <db>` as a multibulk request.
pub fn encode_select(out: &mut BytesMut, db: usize) {
    let db = db.to_string();
    encode_command(out, &[&b"SELECT"[..], db.as_bytes()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibulk_like_redis() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &[&b"SET"[..], b"k", b""]);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn select_like_redis() {
        let mut out = BytesMut::new();
        encode_select(&mut out, 0);
        encode_select(&mut out, 15);
        assert_eq!(
            &out[..],
            &b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n"[..]
        );
    }
}
