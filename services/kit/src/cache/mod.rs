//! The cache: values with a TTL, atomic counters, sliding windows and token
//! buckets, behind one trait with a Redis and an in-memory implementation.
//!
//! Keys are namespaced by the implementation (`<namespace>:<key>`), so callers
//! write plain keys and tests or deployments sharing a Redis never collide.

mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryCache;
pub use redis::RedisCache;

/// A cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache server is unreachable or answered with an error.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// The cache answered something we did not expect.
    #[error("unexpected cache reply: {0}")]
    Protocol(String),
}

/// The answer of a sliding-window check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowDecision {
    /// Whether this hit was within the limit (and so was counted).
    pub allowed: bool,
    /// Hits in the window, including this one when allowed.
    pub count: u64,
    /// When refused: how long until the oldest hit leaves the window.
    pub retry_after: Duration,
}

/// The shape of a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Most tokens it can hold (the burst).
    pub capacity: u32,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// The answer of a token-bucket take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketDecision {
    /// Whether the tokens were taken.
    pub allowed: bool,
    /// Tokens left after this take.
    pub remaining: f64,
    /// When refused: how long until enough tokens are back.
    pub retry_after: Duration,
}

/// One mark on a timeline: a sorted set of what happened to a subject, kept
/// for a horizon and counted over windows ending now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The timeline.
    pub key: String,
    /// What is marked.
    pub what: Marked,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// What a [`Mark`] adds to its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// One more event. Events are kept per second (the set's members are
    /// seconds, with a count beside each), so a busy timeline costs one entry
    /// a second however many events it sees; windows are counted to the second.
    Event,
    /// A member, counted once however often it is marked (distinct
    /// recipients, say); marking it again moves it to the later time.
    Member(String),
}

/// How much of a timeline was marked at or after a time: events (to the
/// second), or distinct members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkCount {
    /// The set.
    pub key: String,
    /// The window's start, in milliseconds since the Unix epoch.
    pub since_ms: i64,
}

/// Get/set with TTL, counters and rate-limit primitives. Every operation is
/// atomic with respect to other callers of the same backend.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores `value`; `None` keeps it until deleted.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Removes `key`; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;
    /// Adds `by` to a counter and returns the new value. A new counter expires
    /// after `ttl`; incrementing does not extend it (fixed windows).
    async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, CacheError>;
    /// Counts a hit in the last `window` unless `limit` hits are already there.
    async fn sliding_window(
        &self,
        key: &str,
        window: Duration,
        limit: u64,
    ) -> Result<WindowDecision, CacheError>;
    /// Takes `cost` tokens from the bucket under `key` if it has them.
    async fn take_tokens(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
    ) -> Result<BucketDecision, CacheError>;
    /// Reserves, for each of `slots` (key, interval) in order and in one
    /// round trip, the next slot of the pacer that lets one caller through
    /// per `interval` under `key`: how long from now until each caller's
    /// slot (zero if free now; a key named twice gets two slots). Unlike a
    /// refused token take, every caller gets a definite time, so a backlog
    /// is scheduled once instead of retried.
    async fn reserve_slots(
        &self,
        slots: &[(String, Duration)],
    ) -> Result<Vec<Duration>, CacheError>;
    /// Marks each of `marks` on its timeline, then forgets on every timeline
    /// touched what is more than `horizon` older than its newest mark; a
    /// timeline unmarked for `horizon` expires. A timeline holds events or
    /// members, never both. One round trip for all of them.
    async fn mark(&self, marks: &[Mark], horizon: Duration) -> Result<(), CacheError>;
    /// Answers each of `counts`, in order, in one round trip.
    async fn count_marks(&self, counts: &[MarkCount]) -> Result<Vec<u64>, CacheError>;
    /// Whether the backend answers (for readiness).
    async fn ping(&self) -> Result<(), CacheError>;
}

/// Connects the cache a URL names: `redis://…` or `memory://`.
pub async fn connect(url: &str, namespace: &str) -> Result<Arc<dyn Cache>, CacheError> {
    if url.starts_with("memory://") {
        Ok(Arc::new(MemoryCache::new(namespace)))
    } else {
        Ok(Arc::new(RedisCache::connect(url, namespace).await?))
    }
}
