//! The `aof` benchmark: SET throughput with the append-only file on.
//!
//! Each load runs on a fresh server of each side (`--appendonly yes` in its own temp
//! dir), one side after the other, which goes first alternating: `redis-benchmark -t set
//! -c 50 -r 1000000 -d 100` at `-P 1` and `-P 16` with `appendfsync everysec` (Redis's
//! default), and at `-P 16` with `appendfsync always` (an fsync before the replies of
//! each batch / event-loop turn). The two figures of a row are paired by repetition.

use anyhow::{Context, Result};

use crate::bench::{one_free_port, Ctx, Sample, Side};

/// (appendfsync, pipeline) of each row.
const LOADS: [(&str, u32); 3] = [("everysec", 1), ("everysec", 16), ("always", 16)];

/// One repetition of `aof` (see the module docs).
pub fn aof_load(ctx: &Ctx, rep: usize) -> Result<Vec<(Side, Sample)>> {
    let mut samples = Vec::new();
    for (i, (fsync, pipeline)) in LOADS.into_iter().enumerate() {
        for side in crate::bench::order(rep + i) {
            let server = ctx.spawn_server(
                side,
                one_free_port()?,
                &["--appendonly", "yes", "--appendfsync", fsync],
            )?;
            let args = ["-t", "set", "-r", "1000000", "-d", "100"];
            let rps = ctx
                .redis_benchmark(&server, &args, pipeline)?
                .into_iter()
                .next()
                .context("redis-benchmark reported no SET row")?;
            let metric = format!("SET -P {pipeline}, appendfsync {fsync}");
            eprintln!("    [{}] {metric}: {:.0} rps", side.label(), rps.value);
            samples.push((side, Sample { metric, ..rps }));
        }
    }
    Ok(samples)
}
