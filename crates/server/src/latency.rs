//! Per-command latency histograms for INFO latencystats.
//!
//! Redis keeps an HDR histogram per command and prints the percentiles listed in
//! `latency-tracking-info-percentiles` (default `50 99 99.9`). Tandem keeps a log-linear
//! histogram: 8 sub-buckets per power of two of nanoseconds, so a reported percentile is
//! within about 12% of the true value, with fixed memory and no allocation per sample.

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

/// Formats a percentile name as Redis does (`50`, `99`, `99.9`).
pub fn percentile_name(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
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
