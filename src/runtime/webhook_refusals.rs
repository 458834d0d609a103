//! Refused webhook deliveries in this replica's memory: a token bucket per source address
//! that only refusals take from (`MONO_WEBHOOK_REFUSAL_LIMIT`, `MONO_WEBHOOK_REFUSAL_BURST`),
//! and a tally per reason since the last flush with a bounded sample of the latest refusals
//! (time, source address, trace id; never what was presented). Nothing here touches the
//! database: `services::webhooks::refusals` answers the refusals and flushes the tallies.
//!
//! Both are bounded whatever arrives: reasons are a fixed set, each sample keeps
//! [`SAMPLE_SIZE`], and the buckets at most [`MAX_SOURCES`] addresses (IPv6 by /64, the
//! block one host usually holds, so an address of its own per request is still one bucket).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::key_limiter::{forget_full, take_token, Bucket};

/// Refusals kept per reason between two flushes: the latest.
pub const SAMPLE_SIZE: usize = 20;
/// Source addresses with a bucket. When every one is still refilling, a refusal from an
/// address without one is throttled too (a valid delivery never takes from a bucket).
pub const MAX_SOURCES: usize = 10_000;

/// One refused delivery of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub at: DateTime<Utc>,
    /// The socket peer; none when the server was not told (a router served without it).
    pub source: Option<IpAddr>,
    pub trace_id: String,
    /// Answered 429 rather than 401.
    pub throttled: bool,
}

/// The refusals of one reason since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub throttled: u64,
    pub last_at: DateTime<Utc>,
    /// The latest, oldest first.
    pub sample: VecDeque<Sample>,
}

impl Tally {
    /// `earlier` (taken before this one was begun) folded in; the sample keeps the latest.
    fn absorb_earlier(&mut self, earlier: Tally) {
        self.count += earlier.count;
        self.throttled += earlier.throttled;
        self.last_at = self.last_at.max(earlier.last_at);
        let mut sample = earlier.sample;
        sample.append(&mut self.sample);
        while sample.len() > SAMPLE_SIZE {
            sample.pop_front();
        }
        self.sample = sample;
    }
}

/// What is counted and not flushed yet: how many, and the latest refusal's time and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unflushed {
    pub count: u64,
    pub last: Option<(DateTime<Utc>, &'static str)>,
}

pub struct Refusals {
    /// Tokens per second; 0 = no limit.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    tallies: Mutex<BTreeMap<&'static str, Tally>>,
}

impl Refusals {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
            tallies: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes a token for one refusal from `source` at `now`; Err(wait) when there is none,
    /// with the time until one.
    pub fn admit(&self, source: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let key = bucket_of(source);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&key) {
            forget_full(&mut buckets, now, self.rate, self.burst);
            if buckets.len() >= MAX_SOURCES {
                return Err(Duration::from_secs_f64(1.0 / self.rate));
            }
        }
        let bucket = buckets.entry(key).or_insert((self.burst, now));
        take_token(bucket, now, self.rate, self.burst)
    }

    /// Counts one refusal.
    pub fn record(&self, reason: &'static str, source: Option<IpAddr>, trace_id: String, throttled: bool) {
        let at = Utc::now();
        let sample = Sample {
            at,
            source,
            trace_id,
            throttled,
        };
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let tally = tallies.entry(reason).or_insert_with(|| Tally {
            count: 0,
            throttled: 0,
            last_at: at,
            sample: VecDeque::with_capacity(SAMPLE_SIZE),
        });
        tally.count += 1;
        tally.throttled += u64::from(throttled);
        tally.last_at = tally.last_at.max(at);
        if tally.sample.len() == SAMPLE_SIZE {
            tally.sample.pop_front();
        }
        tally.sample.push_back(sample);
    }

    /// The tallies since the last flush, leaving none.
    pub fn take(&self) -> BTreeMap<&'static str, Tally> {
        std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back tallies taken and not written, under what was counted since.
    pub fn restore(&self, taken: BTreeMap<&'static str, Tally>) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        for (reason, earlier) in taken {
            match tallies.get_mut(reason) {
                Some(later) => later.absorb_earlier(earlier),
                None => {
                    tallies.insert(reason, earlier);
                }
            }
        }
    }

    pub fn unflushed(&self) -> Unflushed {
        let tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        Unflushed {
            count: tallies.values().map(|t| t.count).sum(),
            last: tallies.iter().map(|(reason, t)| (t.last_at, *reason)).max(),
        }
    }
}

/// The bucket of an address: itself for IPv4 (and IPv4 mapped into IPv6), its /64 for IPv6.
fn bucket_of(source: Option<IpAddr>) -> IpAddr {
    match source {
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let refusals = Refusals::new(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(refusals.admit(ip("192.0.2.1"), t0).is_ok());
        }
        let wait = refusals.admit(ip("192.0.2.1"), t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(refusals.admit(ip("192.0.2.2"), t0).is_ok(), "another address");
        assert!(refusals
            .admit(ip("192.0.2.1"), t0 + Duration::from_secs(1))
            .is_ok());
        assert!(refusals
            .admit(ip("192.0.2.1"), t0 + Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn an_ipv6_block_is_one_source_and_a_mapped_ipv4_is_the_ipv4() {
        let refusals = Refusals::new(1, 2);
        let t0 = Instant::now();
        assert!(refusals.admit(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(refusals.admit(ip("2001:db8:1:2:ffff::9"), t0).is_ok());
        assert!(refusals.admit(ip("2001:db8:1:2::77"), t0).is_err(), "same /64");
        assert!(refusals.admit(ip("2001:db8:1:3::1"), t0).is_ok(), "another /64");
        assert!(refusals.admit(ip("198.51.100.7"), t0).is_ok());
        assert!(refusals.admit(ip("::ffff:198.51.100.7"), t0).is_ok());
        assert!(refusals.admit(ip("198.51.100.7"), t0).is_err());
    }

    #[test]
    fn the_buckets_stay_bounded_and_full_ones_are_forgotten_first() {
        let refusals = Refusals::new(60, 2);
        let t0 = Instant::now();
        let addr = |i: usize| Some(IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]));
        for i in 0..MAX_SOURCES {
            assert!(refusals.admit(addr(i), t0).is_ok());
        }
        // Every bucket is still refilling: a new address is throttled, a known one is not.
        assert!(refusals.admit(addr(MAX_SOURCES), t0).is_err());
        assert!(refusals.admit(addr(0), t0).is_ok());
        // Once they have refilled, they are forgotten and the new one gets a bucket.
        let later = t0 + Duration::from_secs(60);
        assert!(refusals.admit(addr(MAX_SOURCES), later).is_ok());
        assert!(refusals.buckets.lock().unwrap().len() <= MAX_SOURCES);
    }

    #[test]
    fn no_limit_means_every_refusal_is_admitted() {
        let refusals = Refusals::new(0, 0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| refusals.admit(ip("192.0.2.1"), t0).is_ok()));
    }

    #[test]
    fn tallies_count_every_refusal_keep_the_latest_and_survive_a_failed_flush() {
        let refusals = Refusals::new(60, 20);
        for i in 0..(SAMPLE_SIZE + 5) {
            refusals.record("secret_mismatch", ip("192.0.2.1"), format!("t{i}"), i % 2 == 0);
        }
        refusals.record("stale_timestamp", None, "s0".into(), false);
        let unflushed = refusals.unflushed();
        assert_eq!(unflushed.count, SAMPLE_SIZE as u64 + 6);
        assert_eq!(unflushed.last.unwrap().1, "stale_timestamp");

        let taken = refusals.take();
        assert_eq!(refusals.unflushed(), Unflushed::default());
        let tally = &taken["secret_mismatch"];
        assert_eq!((tally.count, tally.throttled), (SAMPLE_SIZE as u64 + 5, 13));
        assert_eq!(tally.sample.len(), SAMPLE_SIZE);
        assert_eq!(tally.sample.front().unwrap().trace_id, "t5");
        assert_eq!(
            tally.sample.back().unwrap().trace_id,
            format!("t{}", SAMPLE_SIZE + 4)
        );

        // Counted while the write failed, then the taken ones put back under them.
        refusals.record("secret_mismatch", ip("192.0.2.9"), "late".into(), false);
        refusals.restore(taken);
        let again = refusals.take();
        let tally = &again["secret_mismatch"];
        assert_eq!(tally.count, SAMPLE_SIZE as u64 + 6);
        assert_eq!(tally.sample.len(), SAMPLE_SIZE);
        assert_eq!(tally.sample.back().unwrap().trace_id, "late");
        assert_eq!(again["stale_timestamp"].count, 1);
    }
}
