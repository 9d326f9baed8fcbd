//! What statements answering a batch of callers at once (`crate::batch`)
//! share: each caller's answer out of the batch's, and the batch's rows as
//! one JSON parameter.

use std::future::Future;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::batch::{Batcher, Stopped};
use crate::db::QuickDb;

/// Group commit on `quick`'s database when it is PostgreSQL: `run` gets
/// each batch (up to `max` items, `lanes` batches at once) and the
/// connections to run it on. `None` on SQLite, whose callers run each item
/// alone: one process, with no round trip to save.
pub fn on_postgres<I, O, F, Fut>(
    quick: &QuickDb,
    max: usize,
    lanes: usize,
    run: F,
) -> Option<Batcher<I, O, DbErr>>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(QuickDb, Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<O, DbErr>>> + Send + 'static,
{
    on_postgres_lingering(quick, max, lanes, Duration::ZERO, run)
}

/// [`on_postgres`], but while items come often a batch waits up to `linger`
/// for company ([`Batcher::spawn_lingering`]): for statements whose callers
/// can spare that wait on a busy machine.
pub fn on_postgres_lingering<I, O, F, Fut>(
    quick: &QuickDb,
    max: usize,
    lanes: usize,
    linger: Duration,
    run: F,
) -> Option<Batcher<I, O, DbErr>>
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(QuickDb, Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<O, DbErr>>> + Send + 'static,
{
    (quick.get_database_backend() == DbBackend::Postgres).then(|| {
        let quick = quick.clone();
        Batcher::spawn_lingering(max, lanes, linger, move |items| run(quick.clone(), items))
    })
}

/// Each item's answer out of its batch's result (the error, for each, if
/// the batch failed).
pub fn answer_each<B, I, O>(
    batch: Result<B, DbErr>,
    items: &[I],
    pick: impl Fn(&B, &I) -> O,
) -> Vec<Result<O, DbErr>> {
    match batch {
        Ok(b) => items.iter().map(|i| Ok(pick(&b, i))).collect(),
        Err(e) => failed_each(items.len(), &e),
    }
}

/// The answers of a batch of `n` whose statement failed with `e`: that
/// error, for each.
pub fn failed_each<O>(n: usize, e: &DbErr) -> Vec<Result<O, DbErr>> {
    let e = e.to_string();
    (0..n).map(|_| Err(DbErr::Custom(e.clone()))).collect()
}

/// A caller's answer from its batch (the batcher gone is an error too).
pub fn stopped<T>(answer: Result<Result<T, DbErr>, Stopped>) -> Result<T, DbErr> {
    answer.map_err(|e| DbErr::Custom(e.to_string()))?
}

/// A batch's rows as the one JSON parameter of its statement (read back by
/// `jsonb_to_recordset` or `jsonb_array_elements_text`, so the statement's
/// text never changes and is planned once).
pub fn json_rows<T: serde::Serialize + ?Sized>(rows: &T) -> Result<String, DbErr> {
    serde_json::to_string(rows).map_err(|e| DbErr::Custom(e.to_string()))
}
