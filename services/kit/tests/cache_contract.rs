//! One contract, run against Redis (the machine's, on 127.0.0.1:6379) and the
//! in-memory cache. Each test uses its own key namespace.

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::cache::{Bucket, Cache, MemoryCache, RedisCache};

fn redis_url() -> String {
    std::env::var("AEROSTIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn namespace() -> String {
    format!("test{}", uuid::Uuid::new_v4().simple())
}

async fn values_expire_after_their_ttl_and_can_be_deleted(cache: Arc<dyn Cache>) {
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache
        .set("k", b"v", Some(Duration::from_millis(500)))
        .await
        .unwrap();
    cache.set("forever", b"f", None).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert!(cache.delete("forever").await.unwrap());
    assert!(!cache.delete("forever").await.unwrap());
    assert_eq!(cache.get("forever").await.unwrap(), None);
}

async fn counters_add_up_atomically_and_expire_on_a_fixed_window(cache: Arc<dyn Cache>) {
    let ttl = Duration::from_millis(1000);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.incr("hits", 1, ttl).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results.sort();
    assert_eq!(
        results,
        (1..=40).collect::<Vec<i64>>(),
        "every increment is seen exactly once"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        cache.incr("hits", 5, ttl).await.unwrap(),
        5,
        "the counter expired and restarted"
    );
}

async fn a_sliding_window_admits_up_to_its_limit_then_says_when_to_retry(cache: Arc<dyn Cache>) {
    let window = Duration::from_millis(1000);
    for n in 1..=3 {
        let d = cache.sliding_window("login:ip", window, 3).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.count, n);
    }
    let refused = cache.sliding_window("login:ip", window, 3).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.count, 3);
    assert!(
        refused.retry_after > Duration::ZERO && refused.retry_after <= window,
        "{:?}",
        refused.retry_after
    );
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    assert!(
        cache
            .sliding_window("login:ip", window, 3)
            .await
            .unwrap()
            .allowed
    );
}

async fn a_token_bucket_allows_its_burst_then_refills_at_its_rate(cache: Arc<dyn Cache>) {
    let bucket = Bucket {
        capacity: 3,
        refill_per_sec: 4.0,
    };
    for _ in 0..3 {
        assert!(
            cache
                .take_tokens("number:1", bucket, 1)
                .await
                .unwrap()
                .allowed
        );
    }
    let refused = cache.take_tokens("number:1", bucket, 1).await.unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(250)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = cache.take_tokens("number:1", bucket, 1).await.unwrap();
    assert!(again.allowed);
    assert!(again.remaining < 1.0);
    // Other keys have buckets of their own.
    assert!(
        cache
            .take_tokens("number:2", bucket, 3)
            .await
            .unwrap()
            .allowed
    );
}

/// One caller's slot under `key`.
async fn one_slot(cache: &Arc<dyn Cache>, key: &str, interval: Duration) -> Duration {
    let waits = cache.reserve_slots(&[(key.to_string(), interval)]).await;
    let waits = waits.unwrap();
    assert_eq!(waits.len(), 1, "{waits:?}");
    waits[0]
}

async fn a_pacer_gives_each_caller_its_own_slot_one_interval_apart(cache: Arc<dyn Cache>) {
    let interval = Duration::from_millis(100);
    let mut waits = Vec::new();
    for _ in 0..5 {
        waits.push(one_slot(&cache, "send:number:1", interval).await);
    }
    assert_eq!(waits[0], Duration::ZERO, "the first goes at once");
    for pair in waits.windows(2) {
        // Each slot is one interval after the one before (less the time
        // the calls themselves took).
        let gap = pair[1].saturating_sub(pair[0]);
        assert!(
            gap > Duration::from_millis(50) && gap <= interval,
            "{waits:?}"
        );
    }
    assert_eq!(
        one_slot(&cache, "send:number:2", interval).await,
        Duration::ZERO,
        "other keys pace on their own"
    );
    // Once its slots have passed, a pacer is free again.
    tokio::time::sleep(waits[4] + interval).await;
    assert_eq!(
        one_slot(&cache, "send:number:1", interval).await,
        Duration::ZERO
    );
}

async fn slots_reserved_together_are_given_in_order_as_one_at_a_time_would_be(
    cache: Arc<dyn Cache>,
) {
    let (slow, fast) = (Duration::from_millis(200), Duration::from_millis(100));
    let asked = [
        ("send:number:1".to_string(), slow),
        ("send:number:2".to_string(), fast),
        ("send:number:1".to_string(), slow),
        ("send:number:1".to_string(), slow),
    ];
    let waits = cache.reserve_slots(&asked).await.unwrap();
    assert_eq!(waits.len(), 4);
    assert_eq!(waits[0], Duration::ZERO, "{waits:?}");
    assert_eq!(waits[1], Duration::ZERO, "another key: {waits:?}");
    // One key's slots follow each other, one interval apart (the script
    // runs as one step, so no time passes between them).
    let close = |got: Duration, want: Duration| got.abs_diff(want) < Duration::from_millis(2);
    assert!(
        close(waits[2], slow) && close(waits[3], 2 * slow),
        "{waits:?}"
    );
    // The next single reservation comes after them.
    let next = one_slot(&cache, "send:number:1", slow).await;
    assert!(next > 2 * slow && next <= 3 * slow, "{next:?}");
    assert!(cache.reserve_slots(&[]).await.unwrap().is_empty());
}

async fn timelines_count_events_per_second_and_distinct_members_and_forget_past_the_horizon(
    cache: Arc<dyn Cache>,
) {
    use aerostic_kit::cache::{Mark, MarkCount, Marked};
    let event = |key: &str, at_ms: i64| Mark {
        key: key.into(),
        what: Marked::Event,
        at_ms,
    };
    let member = |key: &str, member: &str, at_ms: i64| Mark {
        key: key.into(),
        what: Marked::Member(member.into()),
        at_ms,
    };
    let count = |key: &str, since_ms: i64| MarkCount {
        key: key.into(),
        since_ms,
    };
    let horizon = Duration::from_secs(600);
    let t = 1_000_000_000_000; // on a second
    let mut marks = vec![
        event("calls", t + 100),
        event("calls", t + 900),
        event("calls", t + 5_000),
        member("recipients", "r1", t),
        member("recipients", "r1", t + 9_000),
        member("recipients", "r2", t + 1_000),
        // An older time does not move a member back.
        member("recipients", "r1", t + 2_000),
    ];
    marks.extend((0..50).map(|i| event("calls", t + 9_000 + i)));
    cache.mark(&marks, horizon).await.unwrap();
    let counts = cache
        .count_marks(&[
            count("calls", t),
            // Events count to the second: t+4.5 s includes all of second t+4 s.
            count("calls", t + 4_500),
            count("calls", t + 9_000),
            count("calls", t + 10_000),
            count("recipients", t),
            count("recipients", t + 3_000),
            count("nothing", 0),
        ])
        .await
        .unwrap();
    assert_eq!(counts, vec![53, 51, 50, 0, 2, 1, 0]);
    // Marks 600 s after the first forget what is older than the horizon.
    cache
        .mark(
            &[
                event("calls", t + 605_000),
                member("recipients", "r3", t + 601_500),
            ],
            horizon,
        )
        .await
        .unwrap();
    let counts = cache
        .count_marks(&[count("calls", 0), count("recipients", 0)])
        .await
        .unwrap();
    // Kept: second t+5 s (the cut), the 50 at t+9 s and the new one.
    assert_eq!(counts, vec![52, 2]);
    // A timeline unmarked for its horizon expires.
    cache
        .mark(&[event("brief", t)], Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        cache.count_marks(&[count("brief", 0)]).await.unwrap(),
        vec![1]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cache.count_marks(&[count("brief", 0)]).await.unwrap(),
        vec![0]
    );
    cache.mark(&[], horizon).await.unwrap();
    assert!(cache.count_marks(&[]).await.unwrap().is_empty());
}

async fn namespaces_do_not_see_each_other(a: Arc<dyn Cache>, b: Arc<dyn Cache>) {
    a.set("shared", b"a", None).await.unwrap();
    assert_eq!(b.get("shared").await.unwrap(), None);
    assert_eq!(b.incr("n", 1, Duration::from_secs(5)).await.unwrap(), 1);
    assert_eq!(a.incr("n", 1, Duration::from_secs(5)).await.unwrap(), 1);
    a.ping().await.unwrap();
}

macro_rules! cache_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            async fn cache() -> Arc<dyn Cache> {
                ($make)(namespace()).await
            }

            #[tokio::test]
            async fn values_expire_after_their_ttl_and_can_be_deleted() {
                super::values_expire_after_their_ttl_and_can_be_deleted(cache().await).await;
            }

            #[tokio::test]
            async fn counters_add_up_atomically_and_expire_on_a_fixed_window() {
                super::counters_add_up_atomically_and_expire_on_a_fixed_window(cache().await).await;
            }

            #[tokio::test]
            async fn a_sliding_window_admits_up_to_its_limit_then_says_when_to_retry() {
                super::a_sliding_window_admits_up_to_its_limit_then_says_when_to_retry(
                    cache().await,
                )
                .await;
            }

            #[tokio::test]
            async fn a_token_bucket_allows_its_burst_then_refills_at_its_rate() {
                super::a_token_bucket_allows_its_burst_then_refills_at_its_rate(cache().await)
                    .await;
            }

            #[tokio::test]
            async fn a_pacer_gives_each_caller_its_own_slot_one_interval_apart() {
                super::a_pacer_gives_each_caller_its_own_slot_one_interval_apart(cache().await)
                    .await;
            }

            #[tokio::test]
            async fn slots_reserved_together_are_given_in_order_as_one_at_a_time_would_be() {
                super::slots_reserved_together_are_given_in_order_as_one_at_a_time_would_be(
                    cache().await,
                )
                .await;
            }

            #[tokio::test]
            async fn timelines_count_events_per_second_and_distinct_members_and_forget_past_the_horizon() {
                super::timelines_count_events_per_second_and_distinct_members_and_forget_past_the_horizon(
                    cache().await,
                )
                .await;
            }

            #[tokio::test]
            async fn namespaces_do_not_see_each_other() {
                super::namespaces_do_not_see_each_other(cache().await, cache().await).await;
            }
        }
    };
}

cache_contract!(in_memory, |ns: String| async move {
    Arc::new(MemoryCache::new(&ns)) as Arc<dyn Cache>
});
cache_contract!(redis, |ns: String| async move {
    Arc::new(
        RedisCache::connect(&redis_url(), &ns)
            .await
            .expect("Redis on 127.0.0.1:6379"),
    ) as Arc<dyn Cache>
});
