//! In-process cache for `aerostic dev` and single-process use.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Bucket, BucketDecision, Cache, CacheError, Mark, MarkCount, Marked, WindowDecision};

#[derive(Default)]
struct State {
    values: HashMap<String, (Vec<u8>, Option<Instant>)>,
    counters: HashMap<String, (i64, Instant)>,
    windows: HashMap<String, VecDeque<Instant>>,
    buckets: HashMap<String, (f64, Instant)>,
    slots: HashMap<String, Instant>,
    /// Timelines and when each expires.
    marks: HashMap<String, (Timeline, Instant)>,
    writes: u64,
}

impl State {
    /// Drops expired entries now and then so an idle key does not live forever.
    fn sweep(&mut self, now: Instant) {
        self.writes += 1;
        if !self.writes.is_multiple_of(4096) {
            return;
        }
        self.values
            .retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        self.counters.retain(|_, (_, exp)| *exp > now);
        self.windows.retain(|_, hits| !hits.is_empty());
        self.slots.retain(|_, next| *next > now);
        self.marks.retain(|_, (_, expires)| *expires > now);
    }
}

/// A timeline: distinct members by their latest time, or events per second.
#[derive(Default)]
struct Timeline {
    members: HashMap<String, i64>,
    seconds: HashMap<i64, u64>,
}

impl Timeline {
    fn forget_before(&mut self, cut_ms: i64) {
        self.members.retain(|_, at| *at >= cut_ms);
        self.seconds.retain(|second, _| second * 1000 >= cut_ms);
    }

    fn count_since(&self, since_ms: i64) -> u64 {
        if self.seconds.is_empty() {
            self.members.values().filter(|at| **at >= since_ms).count() as u64
        } else {
            let first = since_ms.div_euclid(1000);
            self.seconds
                .iter()
                .filter(|(second, _)| **second >= first)
                .map(|(_, n)| n)
                .sum()
        }
    }
}

/// A [`Cache`] held in this process's memory.
pub struct MemoryCache {
    namespace: String,
    state: Mutex<State>,
}

impl MemoryCache {
    /// An empty cache whose keys live under `namespace`.
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = Instant::now();
        let state = self.state();
        Ok(state
            .values
            .get(&self.key(key))
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        state.sweep(now);
        state
            .values
            .insert(self.key(key), (value.to_vec(), ttl.map(|t| now + t)));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        let mut state = self.state();
        let a = state.values.remove(&key).is_some();
        let b = state.counters.remove(&key).is_some();
        let c = state.windows.remove(&key).is_some();
        let d = state.buckets.remove(&key).is_some();
        Ok(a || b || c || d)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        state.sweep(now);
        let entry = state
            .counters
            .entry(self.key(key))
            .or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 += by;
        Ok(entry.0)
    }

    async fn sliding_window(
        &self,
        key: &str,
        window: Duration,
        limit: u64,
    ) -> Result<WindowDecision, CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        state.sweep(now);
        let hits = state.windows.entry(self.key(key)).or_default();
        while hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            hits.pop_front();
        }
        let count = hits.len() as u64;
        if count < limit {
            hits.push_back(now);
            Ok(WindowDecision {
                allowed: true,
                count: count + 1,
                retry_after: Duration::ZERO,
            })
        } else {
            let oldest = hits.front().copied().unwrap_or(now);
            let retry_after = (oldest + window).saturating_duration_since(now);
            Ok(WindowDecision {
                allowed: false,
                count,
                retry_after,
            })
        }
    }

    async fn take_tokens(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
    ) -> Result<BucketDecision, CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        let capacity = f64::from(bucket.capacity);
        let (tokens, last) = state
            .buckets
            .get(&self.key(key))
            .copied()
            .unwrap_or((capacity, now));
        let mut tokens =
            (tokens + now.duration_since(last).as_secs_f64() * bucket.refill_per_sec).min(capacity);
        let cost = f64::from(cost);
        let decision = if tokens >= cost {
            tokens -= cost;
            BucketDecision {
                allowed: true,
                remaining: tokens,
                retry_after: Duration::ZERO,
            }
        } else {
            let wait = (cost - tokens) / bucket.refill_per_sec;
            BucketDecision {
                allowed: false,
                remaining: tokens,
                retry_after: Duration::from_secs_f64(wait),
            }
        };
        state.buckets.insert(self.key(key), (tokens, now));
        Ok(decision)
    }

    async fn reserve_slots(
        &self,
        slots: &[(String, Duration)],
    ) -> Result<Vec<Duration>, CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        state.sweep(now);
        let mut waits = Vec::with_capacity(slots.len());
        for (key, interval) in slots {
            let key = self.key(key);
            let slot = state.slots.get(&key).copied().unwrap_or(now).max(now);
            state.slots.insert(key, slot + *interval);
            waits.push(slot - now);
        }
        Ok(waits)
    }

    async fn mark(&self, marks: &[Mark], horizon: Duration) -> Result<(), CacheError> {
        let now = Instant::now();
        let mut state = self.state();
        state.sweep(now);
        let mut newest: HashMap<String, i64> = HashMap::new();
        for mark in marks {
            let key = self.key(&mark.key);
            let (timeline, expires) = state
                .marks
                .entry(key.clone())
                .or_insert_with(|| (Timeline::default(), now + horizon));
            if *expires <= now {
                *timeline = Timeline::default();
            }
            match &mark.what {
                Marked::Member(member) => {
                    let at = timeline.members.entry(member.clone()).or_insert(mark.at_ms);
                    *at = (*at).max(mark.at_ms);
                }
                Marked::Event => {
                    *timeline
                        .seconds
                        .entry(mark.at_ms.div_euclid(1000))
                        .or_default() += 1
                }
            }
            let latest = newest.entry(key).or_insert(mark.at_ms);
            *latest = (*latest).max(mark.at_ms);
        }
        for (key, latest) in newest {
            if let Some((timeline, expires)) = state.marks.get_mut(&key) {
                timeline.forget_before(latest - horizon.as_millis() as i64);
                *expires = now + horizon;
            }
        }
        Ok(())
    }

    async fn count_marks(&self, counts: &[MarkCount]) -> Result<Vec<u64>, CacheError> {
        let now = Instant::now();
        let state = self.state();
        Ok(counts
            .iter()
            .map(|c| match state.marks.get(&self.key(&c.key)) {
                Some((timeline, expires)) if *expires > now => timeline.count_since(c.since_ms),
                _ => 0,
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
