//! The data families' unit-test bench: a real keyspace, one command at a time, and what the
//! command did: its reply, how many changes it counted (`dirty`), the commands it
//! propagates, and the block it asked for.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use tandem_keyspace::{Keyspace, KeyspaceConfig};
use tandem_resp::{Encoder, Protocol};

use super::{handler, BlockOn, DataSettings, DataStats, ExecCtx, Propagation};

/// The commands' clock.
pub(crate) const NOW: i64 = 1_700_000_000_000;

/// A keyspace with its settings and counters.
pub(crate) struct Env {
    pub ks: Keyspace,
    pub settings: DataSettings,
    pub stats: DataStats,
    /// Whether a blocking command may block (false: it replies as inside MULTI).
    pub may_block: bool,
}

/// What one command did.
pub(crate) struct Outcome {
    pub reply: String,
    pub dirty: u64,
    /// The propagated commands, argument by argument.
    pub prop: Vec<Vec<String>>,
    pub block: Option<BlockOn>,
}

impl Outcome {
    /// The propagated commands, each with its arguments joined by spaces.
    pub fn lines(&self) -> Vec<String> {
        self.prop.iter().map(|c| c.join(" ")).collect()
    }
}

impl Env {
    pub fn new() -> Env {
        let mut ks = Keyspace::new(KeyspaceConfig::default());
        ks.set_now(NOW);
        Env {
            ks,
            settings: DataSettings {
                proto_max_bulk_len: 512 * 1024 * 1024,
                ..DataSettings::default()
            },
            stats: DataStats::default(),
            may_block: false,
        }
    }

    /// Runs `line` (arguments split on spaces; `\s` stands for a space and `\0` for a NUL
    /// byte inside an argument) in database 0.
    pub fn run_proto(&mut self, line: &str, proto: Protocol) -> Outcome {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|s| Bytes::from(s.replace("\\s", " ").replace("\\0", "\0")))
            .collect();
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        // A container command's handler is its subcommand's (`xgroup|create`).
        let h = handler(&name)
            .or_else(|| {
                let sub = String::from_utf8_lossy(args.get(1)?).to_ascii_lowercase();
                handler(&format!("{name}|{sub}"))
            })
            .unwrap();
        let mut out = BytesMut::new();
        let mut enc = Encoder::new(&mut out, proto);
        let mut prop = Propagation::default();
        let mut ctx = ExecCtx {
            ks: &mut self.ks,
            db: 0,
            now: NOW,
            clock: NOW,
            enc: &mut enc,
            prop: &mut prop,
            dirty: 0,
            settings: &self.settings,
            stats: &mut self.stats,
            may_block: self.may_block,
            block: None,
            notes: Vec::new(),
        };
        h(&mut ctx, &args);
        let dirty = ctx.dirty;
        let block = ctx.block.take();
        let prop = prop
            .resolve(&args, dirty > 0)
            .into_iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect();
        Outcome {
            reply: String::from_utf8_lossy(&out).into_owned(),
            dirty,
            prop,
            block,
        }
    }

    pub fn run(&mut self, line: &str) -> Outcome {
        self.run_proto(line, Protocol::Resp2)
    }

    /// The RESP2 reply of `line`.
    pub fn r(&mut self, line: &str) -> String {
        self.run(line).reply
    }

    /// What `line` propagates.
    pub fn prop(&mut self, line: &str) -> Vec<String> {
        self.run(line).lines()
    }

    /// `OBJECT ENCODING` of a key of database 0.
    pub fn encoding(&mut self, key: &str) -> &'static str {
        self.ks.peek(0, key.as_bytes(), NOW).unwrap().encoding()
    }
}
