//! The day's outbound count of a tenant, checked for every send (the plan's
//! messages per day). On PostgreSQL the reads asked at the same moment
//! share one statement, whichever tenants they are for: a read per send
//! was a round trip per send (BENCHMARKS.md). A batched read starts after
//! each of its requests arrived, so it answers what a read of its own would.
//!
//! A send's check ([`TodayReads::recent`]) reads at most once a second per
//! tenant and adds what this process counted since, until the tenant comes
//! within a tenth of its bound: from there every check reads, as before.
//! Far from the bound the answer is the same either way, and the read was
//! a fifth of PostgreSQL's statements per message (BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aerostic_kit::batch::Batcher;
use aerostic_kit::db::QuickDb;
use aerostic_kit::db::batched::{answer_each, json_rows, on_postgres, stopped};
use chrono::{NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::usage::{self, OUTBOUND_PREFIX};

/// Most reads in one statement.
const BATCH: usize = 256;
/// Statements at once.
const LANES: usize = 2;

/// How long a read stands for a tenant's count in a send's check.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Tenants remembered before the stale ones are forgotten.
const REMEMBERED: usize = 10_000;

/// Reads of the day's outbound count.
#[derive(Clone)]
pub struct TodayReads {
    quick: QuickDb,
    batches: Option<Batcher<String, i64, DbErr>>,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

/// A tenant's last read, and what this process counted since.
struct Seen {
    day: NaiveDate,
    read: i64,
    since: i64,
    at: Instant,
}

impl Seen {
    /// The count to judge a send by at `now`, if this one may stand for a
    /// read: the same day, at most [`FRESH_FOR`] old, and far from `bound`.
    fn judges(&self, day: NaiveDate, bound: u32, now: Instant) -> Option<i64> {
        let used = self.read + self.since;
        let fresh = self.day == day && now.duration_since(self.at) < FRESH_FOR;
        (fresh && used + near(bound) < i64::from(bound)).then_some(used)
    }
}

/// Within this many messages of `bound`, every check reads.
fn near(bound: u32) -> i64 {
    i64::from((bound / 10).max(10))
}

impl TodayReads {
    /// Reads through `quick` (batched on PostgreSQL).
    pub fn new(quick: QuickDb) -> Self {
        let batches = on_postgres(
            &quick,
            BATCH,
            LANES,
            |quick, tenants: Vec<String>| async move {
                let counts = outbound_today_of(&quick, &tenants).await;
                answer_each(counts, &tenants, |counts, t| {
                    counts.get(t).copied().unwrap_or(0)
                })
            },
        );
        Self {
            quick,
            batches,
            seen: Arc::default(),
        }
    }

    /// The count a send is judged by against `bound`: a read of the last
    /// second plus what this process counted since, or a read of its own
    /// once the tenant is near the bound (or the day changed).
    pub async fn recent(&self, tenant: &str, bound: u32) -> Result<i64, DbErr> {
        // The UTC day, as the counters' period (`usage::day_key`), without
        // formatting a key for every send.
        let day = Utc::now().date_naive();
        let remembered = (self.seen.lock().expect("seen").get(tenant))
            .and_then(|seen| seen.judges(day, bound, Instant::now()));
        if let Some(used) = remembered {
            return Ok(used);
        }
        let at = Instant::now();
        let read = self.outbound_today(tenant).await?;
        let mut seen = self.seen.lock().expect("seen");
        if seen.len() >= REMEMBERED {
            seen.retain(|_, s| s.at.elapsed() < FRESH_FOR);
        }
        let since = 0;
        seen.insert(
            tenant.to_string(),
            Seen {
                day,
                read,
                since,
                at,
            },
        );
        Ok(read)
    }

    /// Counts a message this process just reserved or recorded for `tenant`.
    pub fn counted(&self, tenant: &str) {
        if let Some(seen) = self.seen.lock().expect("seen").get_mut(tenant) {
            seen.since += 1;
        }
    }

    /// Outbound messages `tenant` sent today, every category together.
    pub async fn outbound_today(&self, tenant: &str) -> Result<i64, DbErr> {
        match &self.batches {
            Some(batches) => stopped(batches.submit(tenant.to_string()).await),
            None => usage::outbound_today(&self.quick, tenant).await,
        }
    }
}

/// Today's outbound count of each of `tenants` that sent anything today.
async fn outbound_today_of(
    db: &impl ConnectionTrait,
    tenants: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    // `= ANY` of an array: an index condition on the counters' primary key.
    const SQL: &str = r#"
SELECT tenant_id, SUM(quantity)::bigint AS n FROM usage_counters
WHERE tenant_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
  AND period = $2 AND starts_with(metric, $3)
GROUP BY tenant_id"#;
    let tenants = json_rows(tenants)?;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            tenants.into(),
            usage::day_key(Utc::now()).into(),
            OUTBOUND_PREFIX.into(),
        ],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "tenant_id")?, row.try_get("", "n")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn december(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
    }

    fn seen(read: i64, since: i64, at: Instant) -> Seen {
        let day = december(6);
        Seen {
            day,
            read,
            since,
            at,
        }
    }

    #[test]
    fn a_recent_read_far_from_the_bound_stands_with_what_was_counted_since() {
        let at = Instant::now();
        assert_eq!(seen(500, 7, at).judges(december(6), 1_000, at), Some(507));
    }

    #[test]
    fn near_the_bound_a_stale_read_or_another_day_every_check_reads() {
        let at = Instant::now();
        // A tenth of 1,000 from the bound, counting what was added since.
        assert_eq!(seen(850, 50, at).judges(december(6), 1_000, at), None);
        assert_eq!(seen(899, 0, at).judges(december(6), 1_000, at), Some(899));
        // Small bounds keep ten messages of margin.
        assert_eq!(seen(0, 0, at).judges(december(6), 10, at), None);
        assert_eq!(seen(0, 0, at).judges(december(6), 0, at), None);
        assert_eq!(seen(1, 0, at).judges(december(7), 1_000, at), None);
        let later = at + FRESH_FOR;
        assert_eq!(seen(1, 0, at).judges(december(6), 1_000, later), None);
    }
}
