//! LATENCY: the latency monitor's samples (LATEST, HISTORY, RESET, GRAPH, DOCTOR) and the
//! per-command latency distributions (HISTOGRAM), with Redis's replies and report texts.
//! The figures come from [`crate::latency`].

use bytes::Bytes;

use crate::cmd::Ctx;
use crate::latency::Series;

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

/// `LATENCY <subcommand> ...` (arity per subcommand is checked by the command table).
pub fn latency(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], HELP);
        }
        b"latest" => latest(ctx),
        b"history" => history(ctx, &args[2]),
        b"reset" => {
            let monitor = &mut ctx.srv.latency_monitor;
            let n = if args.len() == 2 {
                monitor.reset(None)
            } else {
                args[2..].iter().map(|e| monitor.reset(Some(e))).sum()
            };
            ctx.integer(n as i64);
        }
        b"graph" => graph(ctx, &args[2]),
        b"doctor" => {
            let report = doctor_report(ctx);
            ctx.enc().verbatim(b"txt", report.as_bytes());
        }
        b"histogram" => histogram(ctx, &args[2..]),
        _ => ctx.unknown_subcommand(args),
    }
}

fn latest(ctx: &mut Ctx<'_>) {
    let rows: Vec<(String, i64, u64, u64)> = ctx
        .srv
        .latency_monitor
        .events()
        .iter()
        .map(|(name, s)| {
            let (time, ms) = s.latest();
            (name.clone(), time, ms, s.max)
        })
        .collect();
    let mut e = ctx.enc();
    e.array_len(rows.len());
    for (name, time, ms, max) in rows {
        e.array_len(4);
        e.bulk(name.as_bytes());
        e.integer(time);
        e.integer(ms as i64);
        e.integer(max as i64);
    }
}

fn history(ctx: &mut Ctx<'_>, event: &[u8]) {
    let samples: Vec<(i64, u64)> = ctx
        .srv
        .latency_monitor
        .series(event)
        .map(|(_, s)| s.samples().collect())
        .unwrap_or_default();
    let mut e = ctx.enc();
    e.array_len(samples.len());
    for (time, ms) in samples {
        e.array_len(2);
        e.integer(time);
        e.integer(ms as i64);
    }
}

fn graph(ctx: &mut Ctx<'_>, event: &[u8]) {
    let now = crate::persist::unix_now();
    let Some((name, series)) = ctx.srv.latency_monitor.series(event) else {
        let msg = format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(event)
        );
        ctx.err(&msg);
        return;
    };
    let text = render_graph(name, series, now);
    ctx.enc().verbatim(b"txt", text.as_bytes());
}

/// Width of LATENCY GRAPH.
const GRAPH_COLS: usize = 80;
/// Rows of the sparkline itself.
const GRAPH_ROWS: usize = 4;
/// Characters of the filled sparkline, lowest first, and the column filler.
const FILL: [u8; 3] = *b"_o#";

/// LATENCY GRAPH's text: a title line, a rule, then Redis's filled sparkline of the
/// samples (4 rows, 80 columns per block) with each sample's age under it.
fn render_graph(name: &str, series: &Series, now: i64) -> String {
    let samples: Vec<(i64, u64)> = series.samples().collect();
    let high = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let low = samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    let labels: Vec<String> = samples.iter().map(|&(t, _)| age_label(now - t)).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.1 as f64).collect();
    for (i, start) in (0..values.len()).step_by(GRAPH_COLS).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let end = (start + GRAPH_COLS).min(values.len());
        sparkline(&mut out, &values, &labels, start..end);
    }
    out
}

/// How long ago, as the graph labels it: `12s`, `5m`, `3h`, `2d`.
fn age_label(secs: i64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86400)
    }
}

/// One block of the sparkline: the value rows, a blank spacing row, then the labels
/// written downwards one character per row. Scaled between the smallest and largest
/// of all `values`.
fn sparkline(out: &mut String, values: &[f64], labels: &[String], cols: std::ops::Range<usize>) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let levels: Vec<i64> = values[cols.clone()]
        .iter()
        .map(|v| {
            // The product is truncated to an integer before the division, as in Redis.
            let step = (((v - min) * steps as f64) as i64 as f64 / range) as i64;
            step.clamp(0, steps - 1)
        })
        .collect();
    let mut line = vec![b' '; levels.len()];
    for row in 0..GRAPH_ROWS as i64 {
        line.fill(b' ');
        for (c, &step) in line.iter_mut().zip(&levels) {
            let idx = step - (GRAPH_ROWS as i64 - row - 1) * FILL.len() as i64;
            if (0..FILL.len() as i64).contains(&idx) {
                *c = FILL[idx as usize];
            } else if idx >= FILL.len() as i64 {
                *c = b'|';
            }
        }
        push_line(out, &line);
    }
    let block_labels = &labels[cols];
    if block_labels.is_empty() {
        return;
    }
    line.fill(b' ');
    push_line(out, &line);
    let longest = block_labels.iter().map(String::len).max().unwrap_or(0);
    for at in 0..longest {
        for (c, label) in line.iter_mut().zip(block_labels) {
            *c = label.as_bytes().get(at).copied().unwrap_or(b' ');
        }
        push_line(out, &line);
    }
}

fn push_line(out: &mut String, line: &[u8]) {
    out.push_str(&String::from_utf8_lossy(line));
    out.push('\n');
}

/// LATENCY DOCTOR's report (Redis's `createLatencyReport`).
fn doctor_report(ctx: &Ctx<'_>) -> String {
    let monitor = &ctx.srv.latency_monitor;
    if monitor.events().is_empty() && !monitor.enabled() {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis \
                instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" \
                in order to enable it. If we weren't in a deep space mission I'd suggest to take \
                a look at https://redis.io/topics/latency-monitor.\n"
            .to_owned();
    }
    let now = crate::persist::unix_now();
    let slowlog_us = ctx.srv.config.get_i64("slowlog-log-slower-than");
    let hz = ctx.srv.config.get_i64("hz");
    let mut advice = Advice::default();
    let mut report = String::new();
    for (n, (name, series)) in monitor.events().iter().enumerate() {
        if n == 0 {
            report.push_str(
                "Dave, I have observed latency spikes in this Redis instance. You don't mind \
                 talking about it, do you Dave?\n\n",
            );
        }
        let st = series.stats(now);
        report.push_str(&format!(
            "{}. {name}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} \
             sec). Worst all time event {}ms.\n",
            n + 1,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            series.max
        ));
        match name.as_str() {
            "command" => {
                if slowlog_us < 0 {
                    advice.slowlog_enable = true;
                    advice.count += 1;
                } else if (slowlog_us / 1000) as u64 > monitor.threshold {
                    advice.slowlog_tune = true;
                    advice.count += 1;
                }
                advice.slowlog_inspect = true;
                advice.large_objects = true;
                advice.count += 2;
            }
            "fast-command" => {
                advice.scheduler = true;
                advice.count += 1;
            }
            "expire-cycle" => {
                advice.hz = true;
                advice.large_objects = true;
                advice.count += 2;
            }
            "eviction-del" => {
                advice.large_objects = true;
                advice.count += 1;
            }
            "eviction-cycle" => {
                advice.mass_eviction = true;
                advice.count += 1;
            }
            _ => {}
        }
    }
    if anon_huge_pages() > 0 {
        advice.thp = true;
        advice.count += 1;
    }
    let events = monitor.events().len();
    if events == 0 && advice.count == 0 {
        report.push_str(
            "Dave, no latency spike was observed during the lifetime of this Redis instance, \
             not in the slightest bit. I honestly think you ought to sit down calmly, take a \
             stress pill, and think things over.\n",
        );
    } else if advice.count == 0 {
        report.push_str(
            "\nWhile there are latency events logged, I'm not able to suggest any easy fix. \
             Please use the Redis community to get some help, providing this report in your \
             help request.\n",
        );
    } else {
        report.push_str("\nI have a few advices for you:\n\n");
        let threshold_us = monitor.threshold * 1000;
        if advice.slowlog_enable {
            report.push_str(&format!(
                "- There are latency issues with potentially slow commands you are using. Try \
                 to enable the Slow Log Redis feature using the command 'CONFIG SET \
                 slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is \
                 not able to log slow commands execution for you.\n"
            ));
        }
        if advice.slowlog_tune {
            report.push_str(&format!(
                "- Your current Slow Log configuration only logs events that are slower than \
                 your configured latency monitor threshold. Please use 'CONFIG SET \
                 slowlog-log-slower-than {threshold_us}'.\n"
            ));
        }
        if advice.slowlog_inspect {
            report.push_str(
                "- Check your Slow Log to understand what are the commands you are running \
                 which are too slow to execute. Please check https://redis.io/commands/slowlog \
                 for more information.\n",
            );
        }
        if advice.scheduler {
            report.push_str(
                "- The system is slow to execute Redis code paths not containing system calls. \
                 This usually means the system does not provide Redis CPU time to run for long \
                 periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer \
                 / VM just for Redis if you are running other software in the same system.\n  \
                 3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with \
                 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your \
                 system.\n  5) Check if the problem is allocator-related by recompiling Redis \
                 with MALLOC=libc, if you are using Jemalloc. However this may create \
                 fragmentation problems.\n",
            );
        }
        if advice.hz && hz < 100 {
            report.push_str(
                "- In order to make the Redis keys expiring process more incremental, try to \
                 set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
            );
        }
        if advice.large_objects {
            report.push_str(
                "- Deleting, expiring or evicting (because of maxmemory policy) large objects \
                 is a blocking operation. If you have very large objects that are often \
                 deleted, expired, or evicted, try to fragment those objects into multiple \
                 smaller objects.\n",
            );
        }
        if advice.mass_eviction {
            report.push_str(
                "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation \
                 of large objects via sets or sorted sets intersections, STORE option of SORT, \
                 Redis Cluster large keys migrations (RESTORE command), may create sudden \
                 memory pressure forcing the server to block trying to evict keys. \n",
            );
        }
        if advice.thp {
            report.push_str(
                "- I detected a non zero amount of anonymous huge pages used by your process. \
                 This creates very serious latency events in different conditions, especially \
                 when Redis is persisting on disk. To disable THP support use the command 'echo \
                 never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it \
                 into /etc/rc.local so that the command will be executed again after a reboot. \
                 Note that even if you have already disabled THP, you still need to restart the \
                 Redis process to get rid of the huge pages already created.\n",
            );
        }
    }
    report
}

/// Which of the report's advices apply, and how many were counted.
#[derive(Default)]
struct Advice {
    count: u32,
    slowlog_enable: bool,
    slowlog_tune: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    thp: bool,
}

/// Bytes of transparent huge pages backing this process (`AnonHugePages` in
/// `/proc/self/smaps_rollup`), 0 when unknown.
fn anon_huge_pages() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// One command of LATENCY HISTOGRAM: name, calls, cumulative distribution.
type HistogramRow = (String, u64, Vec<(u64, u64)>);

/// LATENCY HISTOGRAM: per command (all that ran, or those named, a container naming its
/// subcommands too), its calls and cumulative distribution, as maps (RESP2: flat arrays).
fn histogram(ctx: &mut Ctx<'_>, names: &[Bytes]) {
    let commands = &ctx.srv.stats.commands;
    let mut picked: Vec<&str> = Vec::new();
    if names.is_empty() {
        picked.extend(commands.keys().map(String::as_str));
    } else {
        for raw in names {
            let name = String::from_utf8_lossy(raw).to_ascii_lowercase();
            if let Some((key, _)) = commands.get_key_value(&name) {
                picked.push(key);
            }
            let prefix = format!("{name}|");
            picked.extend(
                commands
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .map(String::as_str),
            );
        }
    }
    let rows: Vec<HistogramRow> = picked
        .into_iter()
        .filter_map(|name| {
            let stat = commands.get(name)?;
            let total = stat.latency.total();
            (total > 0).then(|| (name.to_owned(), total, stat.latency.cumulative_usec()))
        })
        .collect();
    let mut e = ctx.enc();
    e.map_len(rows.len());
    for (name, calls, cdf) in rows {
        e.bulk(name.as_bytes());
        e.map_len(2);
        e.bulk(b"calls");
        e.integer(calls as i64);
        e.bulk(b"histogram_usec");
        e.map_len(cdf.len());
        for (usec, count) in cdf {
            e.integer(usec as i64);
            e.integer(count as i64);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_graph_matches_redis() {
        let mut m = crate::latency::Monitor::default();
        m.threshold = 1;
        m.add_if_needed("command", 1);
        let (name, series) = m.series(b"command").unwrap();
        let now = series.latest().0;
        let text = render_graph(name, series, now);
        let rule = "-".repeat(80);
        assert_eq!(
            text,
            format!(
                "command - high 1 ms, low 1 ms (all time high 1 ms)\n{rule}\n \n \n \n_\n \n0\ns\n"
            )
        );
    }

    #[test]
    fn graph_rows_scale_between_low_and_high() {
        let values = [1.0, 12.0];
        let labels = ["2s".to_owned(), "1s".to_owned()];
        let mut out = String::new();
        sparkline(&mut out, &values, &labels, 0..2);
        assert_eq!(out, " #\n |\n |\n_|\n  \n21\nss\n");
        assert_eq!(age_label(59), "59s");
        assert_eq!(age_label(61), "1m");
        assert_eq!(age_label(7200), "2h");
        assert_eq!(age_label(172_800), "2d");
    }
}
