//! Database connections (PostgreSQL or SQLite through sea-orm) and test support.

use std::time::Duration;

pub mod batched;
pub mod quick;
pub use quick::QuickDb;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

/// Opens a pool to `url` (`postgres://…` or `sqlite:…`; a SQLite file is
/// created if missing).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let url = if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        loopback_without_tls(url)
    };
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(if url.starts_with("sqlite:") { 4 } else { 16 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection on every acquire by default: a round
        // trip more per query (9 % of the dispatcher's CPU on the send
        // path). Only a connection idle long enough to have been dropped by
        // the server or a firewall is pinged first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if let Some(port) = postgres_tcp_port(&url) {
        options.map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |_connection, _meta| {
                Box::pin(async move {
                    crate::tcp_nodelay::set_on_sockets_to(port);
                    Ok(())
                })
            })
        });
    }
    Database::connect(options).await
}

/// `url` with `sslmode=disable` when it reaches PostgreSQL over loopback
/// TCP and names no `sslmode`. sqlx's default (`prefer`) encrypts every
/// byte whenever the server offers TLS, which a packaged PostgreSQL does;
/// on loopback that protects nothing (whoever can read the loopback
/// interface is root on the host), cost 8 % of PostgreSQL's CPU on the send
/// path, and a third of the send API's latency at 1,000 sends/s
/// (BENCHMARKS.md, 2026-12-06). An explicit `sslmode` always wins, and any
/// other host keeps the default.
fn loopback_without_tls(url: &str) -> String {
    let loopback = postgres_host_port(url).is_some_and(|(host, _)| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if !loopback || url.contains("sslmode=") {
        return url.to_string();
    }
    format!(
        "{url}{}sslmode=disable",
        if url.contains('?') { '&' } else { '?' }
    )
}

/// The host (brackets kept around IPv6) and the port, if written, of a
/// `postgres://` URL; `None` for a Unix socket (a host starting with `/`
/// or `%2F`) or any other database.
fn postgres_host_port(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() || host_port.starts_with('%') {
        return None;
    }
    Some(match host_port.rsplit_once(':') {
        Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
        _ => (host_port, None),
    })
}

/// The TCP port of a `postgres://` URL (5432 unless written), `None` for
/// a Unix socket or any other database.
fn postgres_tcp_port(url: &str) -> Option<u16> {
    match postgres_host_port(url)? {
        (_, Some(port)) => port.parse().ok(),
        (_, None) => Some(5432),
    }
}

/// Begins a transaction that may write.
///
/// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), waiting
/// out another writer for the busy timeout. A deferred transaction that read
/// first would fail at its first write, without waiting, whenever another
/// connection wrote in between (its snapshot is stale: `SQLITE_BUSY`), which
/// under any concurrency turns ordinary requests into internal errors.
/// PostgreSQL ignores the mode.
pub async fn begin_write<C: TransactionTrait + ?Sized>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Whether the database answers (for readiness).
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::{loopback_without_tls, postgres_tcp_port};

    #[test]
    fn the_port_comes_from_the_url_or_defaults_to_5432() {
        assert_eq!(postgres_tcp_port("postgres://u:p@db:6543/x"), Some(6543));
        assert_eq!(postgres_tcp_port("postgresql://db/x"), Some(5432));
        assert_eq!(postgres_tcp_port("postgres://[::1]/x"), Some(5432));
        assert_eq!(
            postgres_tcp_port("postgres://u@%2Fvar%2Frun%2Fpostgresql/x"),
            None
        );
        assert_eq!(postgres_tcp_port("sqlite:dev.db"), None);
    }

    #[test]
    fn loopback_connections_go_without_tls_unless_the_url_asks_for_it() {
        for (url, expected) in [
            (
                "postgres://u@127.0.0.1:5432/x",
                "postgres://u@127.0.0.1:5432/x?sslmode=disable",
            ),
            (
                "postgresql://localhost/x?application_name=a",
                "postgresql://localhost/x?application_name=a&sslmode=disable",
            ),
            (
                "postgres://u:p@[::1]:5432/x",
                "postgres://u:p@[::1]:5432/x?sslmode=disable",
            ),
            (
                "postgres://127.0.0.2/x",
                "postgres://127.0.0.2/x?sslmode=disable",
            ),
            // Asked for: kept.
            (
                "postgres://127.0.0.1/x?sslmode=require",
                "postgres://127.0.0.1/x?sslmode=require",
            ),
            // Another host, a Unix socket, SQLite: untouched.
            (
                "postgres://u@db.internal:5432/x",
                "postgres://u@db.internal:5432/x",
            ),
            ("postgres://u@10.0.0.5/x", "postgres://u@10.0.0.5/x"),
            (
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/x",
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/x",
            ),
            ("sqlite:dev.db", "sqlite:dev.db"),
        ] {
            assert_eq!(loopback_without_tls(url), expected, "{url}");
        }
    }
}

/// Helpers for tests that need a database of their own.
pub mod testing {
    use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

    /// The first column of the first row of `sql` as a number (0 for NULL):
    /// a count or a sum, for checks over the whole database.
    pub async fn scalar(db: &DatabaseConnection, sql: &str) -> Result<i64, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                sql.to_string(),
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0),
            None => 0,
        })
    }

    /// Default server URL of the local PostgreSQL (override with `AEROSTIC_TEST_POSTGRES_URL`).
    pub fn postgres_server_url() -> String {
        std::env::var("AEROSTIC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
    }

    /// Creates a fresh, uniquely named PostgreSQL database and returns its URL.
    pub async fn fresh_postgres_database() -> Result<String, DbErr> {
        let server = postgres_server_url();
        let admin = super::connect(&format!("{server}/postgres")).await?;
        let name = format!("aerostic_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(format!("{server}/{name}"))
    }
}
