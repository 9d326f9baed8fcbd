//! The Redis cache on fred. Multi-step operations are Lua scripts, so each is
//! atomic, and they read Redis's own clock, so several processes agree on time.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;

use super::{Bucket, BucketDecision, Cache, CacheError, Mark, MarkCount, Marked, WindowDecision};

const INCR_WITH_TTL: &str = r#"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"#;

// Hits are a sorted set scored by microseconds since the epoch.
const SLIDING_WINDOW: &str = r#"
local key, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1)
  return {1, count + 1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, count, math.max(0, tonumber(oldest[2]) + window - now)}
"#;

// Floats go back as strings: Redis truncates Lua numbers to integers.
const TOKEN_BUCKET: &str = r#"
local key, cap, rate, cost = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed, retry = 0, 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 else retry = (cost - tokens) / rate end
redis.call('HSET', key, 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', key, math.ceil(cap / rate * 1000) + 1000)
return {allowed, string.format('%.6f', tokens), string.format('%.6f', retry)}
"#;

const PACER: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local waits = {}
for i = 1, #KEYS do
  local key, interval = KEYS[i], tonumber(ARGV[i])
  local slot = math.max(now, tonumber(redis.call('GET', key)) or now)
  local ttl = math.ceil((slot + interval - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.6f', slot + interval), 'PX', ttl)
  waits[i] = string.format('%.6f', slot - now)
end
return waits
"#;

// Timelines. A member timeline is a sorted set scored by time; an event
// timeline is a sorted set of seconds (scored by the second's start) plus a
// hash `<key>#n` of events per second. ARGV: the horizon, then per mark its
// key index, time and either `m<member>` or `e<events>`.
const MARK: &str = r#"
local horizon = tonumber(ARGV[1])
local newest, events = {}, {}
for i = 2, #ARGV, 3 do
  local k, at, what = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), ARGV[i + 2]
  if string.sub(what, 1, 1) == 'm' then
    redis.call('ZADD', KEYS[k], 'GT', at, string.sub(what, 2))
  else
    local second = math.floor(at / 1000)
    redis.call('ZADD', KEYS[k], second * 1000, second)
    redis.call('HINCRBY', KEYS[k] .. '#n', second, tonumber(string.sub(what, 2)))
    events[k] = true
  end
  if newest[k] == nil or at > newest[k] then newest[k] = at end
end
for k, at in pairs(newest) do
  local cut = '(' .. (at - horizon)
  if events[k] then
    local old = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', cut)
    if #old > 0 then redis.call('HDEL', KEYS[k] .. '#n', unpack(old)) end
    redis.call('PEXPIRE', KEYS[k] .. '#n', horizon)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', cut)
  redis.call('PEXPIRE', KEYS[k], horizon)
end
return 0
"#;

const COUNT_MARKS: &str = r#"
local counts = {}
for i = 1, #KEYS do
  local since = tonumber(ARGV[i])
  if redis.call('EXISTS', KEYS[i] .. '#n') == 1 then
    local seconds = redis.call('ZRANGEBYSCORE', KEYS[i], math.floor(since / 1000) * 1000, '+inf')
    local total = 0
    if #seconds > 0 then
      for _, n in ipairs(redis.call('HMGET', KEYS[i] .. '#n', unpack(seconds))) do
        total = total + (tonumber(n) or 0)
      end
    end
    counts[i] = total
  else
    counts[i] = redis.call('ZCOUNT', KEYS[i], since, '+inf')
  end
end
return counts
"#;

/// A [`Cache`] on a Redis server.
pub struct RedisCache {
    client: Client,
    namespace: String,
}

impl RedisCache {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379/0`); fails if Redis does not answer.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, CacheError> {
        let config = Config::from_url(url).map_err(unavailable)?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(5);
                // fred leaves Nagle on: a command written while the last is
                // unacknowledged would wait for Redis's delayed ACK.
                c.tcp = fred::types::config::TcpConfig {
                    nodelay: Some(true),
                    ..Default::default()
                };
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(unavailable)?;
        tokio::time::timeout(Duration::from_secs(10), client.init())
            .await
            .map_err(|_| {
                CacheError::Unavailable(format!("no answer from Redis at {}", redact(url)))
            })?
            .map_err(unavailable)?;
        Ok(Self {
            client,
            namespace: namespace.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }
}

fn unavailable(e: Error) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

/// Drops a password from a URL before it is shown.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn int(v: &Value) -> Result<i64, CacheError> {
    v.as_i64()
        .ok_or_else(|| CacheError::Protocol(format!("expected an integer, got {v:?}")))
}

fn float(v: &Value) -> Result<f64, CacheError> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CacheError::Protocol(format!("expected a decimal, got {v:?}")))
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.client
            .get::<Option<Vec<u8>>, _>(self.key(key))
            .await
            .map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let expire = ttl.map(|t| Expiration::PX(t.as_millis().max(1) as i64));
        self.client
            .set::<(), _, _>(self.key(key), value.to_vec(), expire, None, false)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let n: i64 = self.client.del(self.key(key)).await.map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, CacheError> {
        let ttl_ms = ttl.as_millis().max(1).to_string();
        self.client
            .eval::<i64, _, _, _>(
                INCR_WITH_TTL,
                vec![self.key(key)],
                vec![by.to_string(), ttl_ms],
            )
            .await
            .map_err(unavailable)
    }

    async fn sliding_window(
        &self,
        key: &str,
        window: Duration,
        limit: u64,
    ) -> Result<WindowDecision, CacheError> {
        let member = uuid::Uuid::new_v4().to_string();
        let args = vec![
            window.as_micros().max(1).to_string(),
            limit.to_string(),
            member,
        ];
        let reply: Vec<Value> = self
            .client
            .eval(SLIDING_WINDOW, vec![self.key(key)], args)
            .await
            .map_err(unavailable)?;
        let [allowed, count, retry] = reply.as_slice() else {
            return Err(CacheError::Protocol(format!(
                "sliding window reply {reply:?}"
            )));
        };
        Ok(WindowDecision {
            allowed: int(allowed)? == 1,
            count: int(count)? as u64,
            retry_after: Duration::from_micros(int(retry)?.max(0) as u64),
        })
    }

    async fn take_tokens(
        &self,
        key: &str,
        bucket: Bucket,
        cost: u32,
    ) -> Result<BucketDecision, CacheError> {
        let args = vec![
            bucket.capacity.to_string(),
            bucket.refill_per_sec.to_string(),
            cost.to_string(),
        ];
        let reply: Vec<Value> = self
            .client
            .eval(TOKEN_BUCKET, vec![self.key(key)], args)
            .await
            .map_err(unavailable)?;
        let [allowed, remaining, retry] = reply.as_slice() else {
            return Err(CacheError::Protocol(format!(
                "token bucket reply {reply:?}"
            )));
        };
        Ok(BucketDecision {
            allowed: int(allowed)? == 1,
            remaining: float(remaining)?,
            retry_after: Duration::from_secs_f64(float(retry)?.max(0.0)),
        })
    }

    async fn reserve_slots(
        &self,
        slots: &[(String, Duration)],
    ) -> Result<Vec<Duration>, CacheError> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = slots.iter().map(|(key, _)| self.key(key)).collect();
        let intervals: Vec<String> = (slots.iter())
            .map(|(_, interval)| format!("{:.6}", interval.as_secs_f64()))
            .collect();
        let waits: Vec<Value> = self
            .client
            .eval(PACER, keys, intervals)
            .await
            .map_err(unavailable)?;
        if waits.len() != slots.len() {
            return Err(CacheError::Protocol(format!(
                "expected {} waits, got {waits:?}",
                slots.len()
            )));
        }
        (waits.iter())
            .map(|w| Ok(Duration::from_secs_f64(float(w)?.max(0.0))))
            .collect()
    }

    async fn mark(&self, marks: &[Mark], horizon: Duration) -> Result<(), CacheError> {
        if marks.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        // Events of one second on one timeline travel as one count.
        let mut events: std::collections::BTreeMap<(usize, i64), (i64, u64)> = Default::default();
        let mut args = vec![horizon.as_millis().max(1).to_string()];
        for mark in marks {
            let at = *index.entry(mark.key.as_str()).or_insert_with(|| {
                keys.push(self.key(&mark.key));
                keys.len()
            });
            match &mark.what {
                Marked::Member(member) => {
                    args.extend([at.to_string(), mark.at_ms.to_string(), format!("m{member}")])
                }
                Marked::Event => {
                    let entry = events
                        .entry((at, mark.at_ms.div_euclid(1000)))
                        .or_insert((mark.at_ms, 0));
                    entry.0 = entry.0.max(mark.at_ms);
                    entry.1 += 1;
                }
            }
        }
        for ((at, _), (latest, count)) in events {
            args.extend([at.to_string(), latest.to_string(), format!("e{count}")]);
        }
        self.client
            .eval::<i64, _, _, _>(MARK, keys, args)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn count_marks(&self, counts: &[MarkCount]) -> Result<Vec<u64>, CacheError> {
        if counts.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = counts.iter().map(|c| self.key(&c.key)).collect();
        let args: Vec<String> = counts.iter().map(|c| c.since_ms.to_string()).collect();
        let reply: Vec<Value> = self
            .client
            .eval(COUNT_MARKS, keys, args)
            .await
            .map_err(unavailable)?;
        reply
            .iter()
            .map(|v| int(v).map(|n| n.max(0) as u64))
            .collect()
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.client
            .ping::<String>(None)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
