//! `QuickDb`: the hot path's connections go back without a ping, so a
//! connection may go back only when its statement finished cleanly. Real
//! PostgreSQL, a database per test.

use std::time::Duration;

use aerostic_kit::db::{self, QuickDb, testing::fresh_postgres_database};
use sea_orm::{ConnectionTrait, DbBackend, SqlErr, Statement};

async fn quick() -> QuickDb {
    let url = fresh_postgres_database().await.expect("PostgreSQL");
    QuickDb::new(&db::connect(&url).await.expect("connect"))
}

async fn number(quick: &QuickDb, sql: &str) -> i64 {
    let row = quick
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("the statement runs")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

async fn backend(quick: &QuickDb) -> i64 {
    number(quick, "SELECT pg_backend_pid()::bigint").await
}

#[tokio::test]
async fn a_connection_goes_back_after_its_statement_and_serves_the_next() {
    let quick = quick().await;
    let first = backend(&quick).await;
    assert_eq!(quick.idle(), 1);
    assert_eq!(backend(&quick).await, first, "the same connection again");
    assert_eq!(quick.idle(), 1);
}

#[tokio::test]
async fn a_failed_statement_closes_its_connection_and_the_next_gets_a_fresh_one() {
    let quick = quick().await;
    let first = backend(&quick).await;
    let failed = quick
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1 / 0"))
        .await;
    assert!(failed.is_err(), "division by zero fails");
    assert_eq!(quick.idle(), 0, "the failed statement's connection is gone");
    assert_ne!(backend(&quick).await, first);
    assert_eq!(number(&quick, "SELECT 42::bigint").await, 42);
}

#[tokio::test]
async fn a_statement_dropped_half_way_never_leaves_its_answer_to_the_next() {
    let quick = quick().await;
    let first = backend(&quick).await;
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        quick.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 7::bigint FROM pg_sleep(3)",
        )),
    )
    .await;
    assert!(dropped.is_err(), "the statement was still running");
    assert_eq!(quick.idle(), 0, "its connection did not go back");
    assert_eq!(number(&quick, "SELECT 42::bigint").await, 42);
    assert_ne!(backend(&quick).await, first);
}

#[tokio::test]
async fn a_unique_violation_reads_as_sea_orm_reports_it() {
    let quick = quick().await;
    let create = "CREATE TABLE once (id int PRIMARY KEY)";
    quick.execute_unprepared(create).await.expect("the table");
    let insert = || Statement::from_string(DbBackend::Postgres, "INSERT INTO once VALUES (1)");
    let done = quick.execute_raw(insert()).await.expect("the first insert");
    assert_eq!(done.rows_affected(), 1);
    let again = quick.execute_raw(insert()).await.expect_err("a duplicate");
    assert!(
        matches!(again.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_lookup_by_key_in_a_small_table_plans_the_index_not_a_scan() {
    let url = fresh_postgres_database().await.expect("PostgreSQL");
    let regular = db::connect(&url).await.expect("connect");
    let quick = QuickDb::new(&regular);
    let setup = "CREATE TABLE few (id text PRIMARY KEY, n int); \
                 INSERT INTO few SELECT g::text, g FROM generate_series(1, 50) g; ANALYZE few";
    quick.execute_unprepared(setup).await.expect("the table");
    // The shape of the batched statements: keys out of a JSON parameter.
    let explain = || {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "EXPLAIN SELECT n FROM few \
             WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
            [r#"["7","9"]"#.into()],
        )
    };
    let plan = |rows: Vec<sea_orm::QueryResult>| {
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("a plan line"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let regular_plan = plan(regular.query_all_raw(explain()).await.unwrap());
    assert!(
        regular_plan.contains("Seq Scan on few"),
        "the planner scans a table this small: {regular_plan}"
    );
    let quick_plan = plan(quick.query_all_raw(explain()).await.unwrap());
    assert!(
        quick_plan.contains("Index Scan using few_pkey"),
        "the quick connections take the index: {quick_plan}"
    );
}

#[tokio::test]
async fn on_sqlite_the_statements_run_on_the_regular_pool() {
    let regular = db::connect("sqlite::memory:").await.expect("SQLite");
    let quick = QuickDb::new(&regular);
    let row = quick
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT 5"))
        .await
        .expect("the statement runs")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("a number"), 5);
    assert_eq!(quick.idle(), 0, "no connection of its own");
}

/// 1 when the connection that runs it is encrypted, else 0.
const ENCRYPTED: &str = "SELECT COUNT(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl";

async fn encrypted(quick: &QuickDb) -> i64 {
    number(quick, ENCRYPTED).await
}

#[tokio::test]
async fn loopback_connections_skip_tls_and_one_that_asks_for_it_keeps_it() {
    // The local server offers TLS (a packaged PostgreSQL does, and this
    // machine's does), so sqlx's default would take it on every connection.
    let url = fresh_postgres_database().await.expect("PostgreSQL");
    let plain = QuickDb::new(&db::connect(&url).await.expect("connect"));
    let offered = db::testing::scalar(
        plain.regular(),
        "SELECT (current_setting('ssl') = 'on')::int::bigint",
    )
    .await
    .expect("the setting");
    assert_eq!(
        offered, 1,
        "the local server offers TLS, or nothing here is tested"
    );

    assert_eq!(encrypted(&plain).await, 0, "the quick connection");
    let regular = db::testing::scalar(plain.regular(), ENCRYPTED)
        .await
        .expect("the pool answers");
    assert_eq!(regular, 0, "the pool's connection");

    let asked = QuickDb::new(
        &db::connect(&format!("{url}?sslmode=require"))
            .await
            .expect("connect with TLS"),
    );
    assert_eq!(encrypted(&asked).await, 1, "sslmode=require is kept");
}
