//! Latency figures: per-command histograms and the latency monitor.
//!
//! [`Histogram`]: Redis keeps an HDR histogram per command and prints the percentiles
//! listed in `latency-tracking-info-percentiles` (default `50 99 99.9`) in INFO
//! latencystats, and its cumulative distribution at powers of two of microseconds in
//! LATENCY HISTOGRAM. Tandem keeps a log-linear histogram: 8 sub-buckets per power of two
//! of nanoseconds, so a reported percentile is within about 12% of the true value, with
//! fixed memory and no allocation per sample; the powers of two are bucket edges, so the
//! distribution's counts are exact.
//!
//! [`Monitor`]: Redis's latency monitor. With `latency-monitor-threshold` set (in
//! milliseconds), an event that lasts at least that long is sampled into its event's
//! series: `command` and `fast-command` (by the command's `fast` flag), `expire-cycle`,
//! `eviction-cycle` and `eviction-del`. A series keeps the last 160 samples, one per
//! second (the worst of that second), and its all-time worst.

/// Number of buckets: values up to 2^42 ns (over an hour) are distinguished.
const BUCKETS: usize = 8 + 40 * 8;

/// A fixed-size latency histogram of nanosecond samples.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < 8 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros() as usize; // >= 3
    let sub = ((ns >> (exp - 3)) & 7) as usize;
    ((exp - 2) * 8 + sub).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `i` (Redis reports the highest equivalent value).
fn bucket_high(i: usize) -> u64 {
    if i < 8 {
        return i as u64;
    }
    let exp = i / 8 + 2;
    let sub = (i % 8) as u64;
    let low = (8 + sub) << (exp - 3);
    low + (1u64 << (exp - 3)) - 1
}

impl Histogram {
    /// Records one sample.
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
    }

    /// The value (in nanoseconds) at percentile `p` (0..=100), or 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let wanted = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return bucket_high(i);
            }
        }
        bucket_high(BUCKETS - 1)
    }
}

impl Histogram {
    /// Number of samples.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// LATENCY HISTOGRAM's cumulative distribution: `(label, samples at or below it)` at
    /// each power of two of 1024 ns where the count grows. The label is what Redis prints
    /// for that level: the highest value its HDR histogram (two significant figures)
    /// counts there, in microseconds.
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let (mut below, mut next_bucket, mut previous) = (0u64, 0usize, 0u64);
        let mut level = 1024u64;
        while previous < self.total && level != 0 {
            while next_bucket < BUCKETS && bucket_high(next_bucket) < level {
                below += self.counts[next_bucket];
                next_bucket += 1;
            }
            // Redis clamps samples to one second: the level above it holds the rest.
            if next_bucket == BUCKETS || level > 1_000_000_000 {
                below = self.total;
            }
            if below > previous {
                out.push(((level + level / 128 - 1) / 1000, below));
                previous = below;
            }
            level = level.checked_mul(2).unwrap_or(0);
        }
        out
    }
}

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const SERIES_LEN: usize = 160;

/// One event's samples: (unix seconds, milliseconds), oldest first.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: std::collections::VecDeque<(i64, u64)>,
    /// The worst latency ever sampled.
    pub max: u64,
}

impl Series {
    fn add(&mut self, now: i64, ms: u64) {
        self.max = self.max.max(ms);
        if let Some(last) = self.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        if self.samples.len() == SERIES_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back((now, ms));
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.samples.iter().copied()
    }

    /// The latest sample.
    pub fn latest(&self) -> (i64, u64) {
        self.samples.back().copied().unwrap_or((0, 0))
    }
}

/// The latency monitor's events, in the order they were first sampled.
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    /// `latency-monitor-threshold` in milliseconds; 0 turns sampling off.
    pub threshold: u64,
    events: Vec<(String, Series)>,
}

impl Monitor {
    /// Whether sampling is on (callers skip timing work otherwise).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.threshold > 0
    }

    /// Samples `event` if `ms` reaches the threshold (Redis's `latencyAddSampleIfNeeded`).
    #[inline]
    pub fn add_if_needed(&mut self, event: &str, ms: u64) {
        if self.threshold > 0 && ms >= self.threshold {
            self.add(event, ms, crate::persist::unix_now());
        }
    }

    fn add(&mut self, event: &str, ms: u64, now: i64) {
        match self.events.iter_mut().find(|(name, _)| name == event) {
            Some((_, series)) => series.add(now, ms),
            None => {
                let mut series = Series::default();
                series.add(now, ms);
                self.events.push((event.to_owned(), series));
            }
        }
    }

    /// The events with their series.
    pub fn events(&self) -> &[(String, Series)] {
        &self.events
    }

    /// The series of `event` (names compare exactly, as Redis's dictionary does).
    pub fn series(&self, event: &[u8]) -> Option<(&str, &Series)> {
        self.events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(name, s)| (name.as_str(), s))
    }

    /// Forgets `event` (any case), or every event; returns how many were forgotten.
    pub fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(name, _)| event.is_some_and(|e| !name.as_bytes().eq_ignore_ascii_case(e)));
        before - self.events.len()
    }
}

/// Figures of one event's samples for LATENCY DOCTOR (Redis's `analyzeLatencyForEvent`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventStats {
    pub samples: u64,
    pub avg: u64,
    /// Mean absolute deviation from the average.
    pub mad: u64,
    /// Seconds since the oldest sample (at least 1).
    pub period: i64,
}

impl Series {
    /// Average, mean deviation and period of the samples, seen at `now`.
    pub fn stats(&self, now: i64) -> EventStats {
        let n = self.samples.len() as u64;
        if n == 0 {
            return EventStats::default();
        }
        let avg = self.samples.iter().map(|s| s.1).sum::<u64>() / n;
        let mad = self.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
        let oldest = self.samples.iter().map(|s| s.0).min().unwrap_or(now);
        EventStats {
            samples: n,
            avg,
            mad,
            period: (now - oldest).max(1),
        }
    }
}

/// Formats a percentile name as Redis does (`50`, `99`, `99.9`).
pub fn percentile_name(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_values() {
        for ns in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            123_456,
            10_000_000_000,
        ] {
            let b = bucket_of(ns);
            assert!(bucket_high(b) >= ns, "{ns} in bucket {b}");
            if b > 0 {
                assert!(bucket_high(b - 1) < ns, "{ns} above bucket {}", b - 1);
            }
        }
    }

    #[test]
    fn cumulative_distribution_at_powers_of_two() {
        let mut h = Histogram::default();
        assert!(h.cumulative_usec().is_empty());
        h.record(500);
        h.record(5_000);
        h.record(6_000);
        h.record(3_000_000);
        // Redis's labels: 1031 ns -> 1, 8255 ns -> 8, 4227071 ns -> 4227.
        assert_eq!(h.cumulative_usec(), vec![(1, 1), (8, 3), (4227, 4)]);
    }

    #[test]
    fn series_keep_one_sample_per_second_and_the_last_160() {
        let mut m = Monitor {
            threshold: 1,
            ..Monitor::default()
        };
        m.add("command", 5, 100);
        m.add("command", 3, 100);
        m.add("command", 9, 100);
        let (_, s) = m.series(b"command").unwrap();
        assert_eq!(s.samples().collect::<Vec<_>>(), vec![(100, 9)]);
        for t in 0..200 {
            m.add("command", 2, 101 + t);
        }
        let (_, s) = m.series(b"command").unwrap();
        assert_eq!(s.samples().count(), SERIES_LEN);
        assert_eq!((s.latest(), s.max), ((300, 2), 9));
        let st = s.stats(400);
        assert_eq!((st.samples, st.avg, st.mad, st.period), (160, 2, 0, 259));
        m.add("fast-command", 1, 5);
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 1);
        assert!(m.events().is_empty());
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for ns in 1..=100u64 {
            h.record(ns * 1000);
        }
        let p50 = h.percentile(50.0);
        assert!((50_000..=56_000).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((99_000..=112_000).contains(&p99), "{p99}");
        assert_eq!(Histogram::default().percentile(50.0), 0);
        assert_eq!(percentile_name(99.9), "99.9");
        assert_eq!(percentile_name(50.0), "50");
    }
}
