//! Redis-format logging.
//!
//! Operators' scripts and test harnesses grep redis-server's log, so Tandem writes the same
//! line format: `pid:R DD Mon YYYY HH:MM:SS.mmm L message`, where `R` is the role character
//! (`M` master, `S` replica, `C` child) and `L` the level mark (`.` debug, `-` verbose,
//! `*` notice, `#` warning). It is a small `tracing` subscriber: `tracing::warn!` maps to
//! warning, `info!` to notice, `debug!` to verbose and `trace!` to debug. The level and the
//! destination (`logfile`, empty = stdout) can change at run time (CONFIG SET).

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};

/// Redis log levels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LogLevel {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
    Nothing = 4,
}

impl LogLevel {
    /// Parses a `loglevel` directive value.
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(LogLevel::Debug),
            "verbose" => Some(LogLevel::Verbose),
            "notice" => Some(LogLevel::Notice),
            "warning" => Some(LogLevel::Warning),
            "nothing" => Some(LogLevel::Nothing),
            _ => None,
        }
    }

    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR | Level::WARN => LogLevel::Warning,
            Level::INFO => LogLevel::Notice,
            Level::DEBUG => LogLevel::Verbose,
            Level::TRACE => LogLevel::Debug,
        }
    }

    fn mark(self) -> char {
        match self {
            LogLevel::Debug => '.',
            LogLevel::Verbose => '-',
            LogLevel::Notice => '*',
            LogLevel::Warning | LogLevel::Nothing => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Notice as u8);
static ROLE: AtomicU8 = AtomicU8::new(b'M');
static SINK: Mutex<Option<String>> = Mutex::new(None);

/// Sets the minimum level written.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Sets the role character shown after the pid (`M`, `S`, `C`).
pub fn set_role(role: u8) {
    ROLE.store(role, Ordering::Relaxed);
}

/// Sets the log file; an empty path means standard output.
pub fn set_file(path: &str) {
    *SINK.lock() = if path.is_empty() {
        None
    } else {
        Some(path.to_string())
    };
}

/// Installs the subscriber as the global default. Call once at startup.
pub fn init(level: LogLevel, file: &str) {
    set_level(level);
    set_file(file);
    // Ignore the error of a second installation (tests may call init twice).
    let _ = tracing::subscriber::set_global_default(RedisLog);
}

/// Writes one raw line (no prefix) to the log destination, e.g. the ASCII logo.
pub fn write_raw(text: &str) {
    emit(text.as_bytes());
}

fn emit(bytes: &[u8]) {
    let sink = SINK.lock();
    match sink.as_deref() {
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
        Some(path) => {
            if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
                let _ = f.write_all(bytes);
            }
        }
    }
}

/// Formats the current wall-clock time as Redis does: `25 Nov 2026 10:00:00.123`.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let millis = now.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        millis
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct RedisLog;

#[derive(Default)]
struct MessageVisitor {
    message: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        }
    }
}

impl Subscriber for RedisLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        LogLevel::of(metadata.level()) as u8 >= LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let level = LogLevel::of(event.metadata().level());
        if (level as u8) < LEVEL.load(Ordering::Relaxed) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let line = format!(
            "{}:{} {} {} {}\n",
            std::process::id(),
            ROLE.load(Ordering::Relaxed) as char,
            timestamp(),
            level.mark(),
            visitor.message
        );
        emit(line.as_bytes());
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2026-11-25 is day 20_782 since the epoch.
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn levels_parse() {
        assert_eq!(LogLevel::parse("NOTICE"), Some(LogLevel::Notice));
        assert_eq!(LogLevel::parse("loud"), None);
    }
}
