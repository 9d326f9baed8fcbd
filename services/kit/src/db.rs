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
        url.to_string()
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

/// The TCP port of a `postgres://` URL, `None` for a Unix socket (a host
/// starting with `/` or `%2F`) or any other database.
fn postgres_tcp_port(url: &str) -> Option<u16> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() || host_port.starts_with('%') {
        return None;
    }
    match host_port.rsplit_once(':') {
        Some((_, port)) if !port.ends_with(']') => port.parse().ok(),
        _ => Some(5432),
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
    use super::postgres_tcp_port;

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
