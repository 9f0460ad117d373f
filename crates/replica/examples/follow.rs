//! Follow a Redis master and print every RDB entry and every streamed command.
//!
//! ```text
//! cargo run -p tandem-replica --example follow -- 127.0.0.1 6379 [password [user]]
//! ```
//!
//! Redis's replication log lines go to stderr; entries and commands to stdout.
//! Ctrl-C stops it.

use std::process::ExitCode;

use tandem_rdb::{Item, RdbValue};
use tandem_replica::{
    Command, ContinueInfo, Follower, FollowerConfig, FollowerError, FollowerHandler, FullSyncDone,
    FullSyncStart,
};
use tandem_resp::repr;

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&repr(b)).into_owned()
}

fn summary(v: &RdbValue) -> String {
    match v {
        RdbValue::String(s) => show(s),
        RdbValue::List(l) => format!("list of {}", l.len()),
        RdbValue::Quicklist(q) => format!("list of {} in {} nodes", q.items.len(), q.nodes.len()),
        RdbValue::Set(s) => format!("set of {}", s.len()),
        RdbValue::ZSet(z) => format!("zset of {}", z.len()),
        RdbValue::Hash(h) => format!("hash of {}", h.len()),
        RdbValue::Stream(s) => format!("stream of {}", s.len()),
        other => other.type_name().to_owned(),
    }
}

struct Printer;

impl FollowerHandler for Printer {
    fn on_full_sync_start(&mut self, s: &FullSyncStart) {
        println!(
            "# full sync: replid {:?} offset {} ({:?})",
            s.replid, s.offset, s.payload
        );
    }

    fn on_rdb_item(&mut self, item: Item) {
        match item {
            Item::Entry(e) => {
                let ttl = e
                    .expire_ms
                    .map(|ms| format!(" (expires at {ms} ms)"))
                    .unwrap_or_default();
                println!(
                    "rdb db{} {} {} = {}{ttl}",
                    e.db,
                    e.value.type_name(),
                    show(&e.key),
                    summary(&e.value)
                );
            }
            Item::Aux { key, value } => println!("rdb aux {} = {}", show(&key), show(&value)),
            Item::Function(f) => println!("rdb function library ({} bytes of code)", f.code.len()),
            _ => {}
        }
    }

    fn on_rdb_done(&mut self, d: &FullSyncDone) {
        println!(
            "# snapshot loaded: {} bytes, stream starts at offset {} in db {}",
            d.payload_bytes, d.offset, d.stream_db
        );
    }

    fn on_rdb_aborted(&mut self, e: &FollowerError) {
        println!("# transfer aborted ({e}): discard the entries above");
    }

    fn on_continue(&mut self, c: &ContinueInfo) {
        println!(
            "# partial resync: replid {} from offset {}",
            c.replid, c.offset
        );
    }

    fn on_command(&mut self, c: Command) {
        let args: Vec<String> = c.args.iter().map(|a| show(a)).collect();
        println!("cmd @{} db{} {}", c.offset, c.db, args.join(" "));
    }

    fn on_link_down(&mut self, e: &FollowerError) {
        println!("# link down: {e}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let host = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match args.get(1).map(|p| p.parse::<u16>()) {
        None => 6379,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("usage: follow [host [port [password [user]]]]");
            return ExitCode::FAILURE;
        }
    };
    let mut config = FollowerConfig::new(host, port);
    config.master_auth = args.get(2).cloned();
    config.master_user = args.get(3).cloned();
    let mut follower = match Follower::new(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = follower.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });
    follower.run(&mut Printer).await;
    ExitCode::SUCCESS
}
