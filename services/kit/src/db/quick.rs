//! Connections for the hot path's single statements, without sqlx's
//! release ping.
//!
//! sqlx's pool sends a `Sync` and waits for PostgreSQL's answer every time
//! a connection goes back to it (`sqlx-core` 0.9, unconditionally), in case
//! a cancelled query left it mid-exchange. The send path runs about three
//! statements a message, so that was three more round trips a message, for
//! PostgreSQL and for us: without them the platform sent 13–15 % more
//! messages on the same CPU (BENCHMARKS.md). Here a connection goes back
//! only when its statement finished; one whose statement failed or was
//! dropped half-way is closed instead, so none can come back mid-exchange.
//! A connection idle for [`IDLE_CHECK`] is pinged before use, as the
//! regular pool does.
//!
//! The connections plan without sequential scans: every statement sent
//! here finds its rows by key, and a generic plan cached while a table was
//! small would otherwise keep scanning it as it grows.
//!
//! SQLite (one process, nothing on the wire) runs the same statements on
//! the regular pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection idle this long is pinged before it is used again.
pub const IDLE_CHECK: Duration = Duration::from_secs(30);

/// Connections one [`QuickDb`] opens at most.
pub const SIZE: usize = 8;

/// The database for single statements on the hot path: its own small set
/// of PostgreSQL connections (see the module docs), or the regular pool on
/// SQLite. Cheap to clone.
#[derive(Clone)]
pub struct QuickDb {
    regular: DatabaseConnection,
    own: Option<Arc<Own>>,
}

struct Own {
    options: PgConnectOptions,
    port: Option<u16>,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    slots: Arc<Semaphore>,
}

/// A connection in use; it goes back only through [`Lease::give_back`].
struct Lease {
    conn: Option<PgConnection>,
    own: Arc<Own>,
    _slot: OwnedSemaphorePermit,
}

impl Lease {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a lease holds its connection")
    }

    /// Its statement finished: the connection is ready for the next one.
    fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.own.idle.lock().expect("the idle list");
            idle.push((conn, Instant::now()));
        }
    }
}

impl QuickDb {
    /// Statements for `db`'s database; on PostgreSQL over connections of
    /// their own (opened as `db`'s are, when first needed).
    pub fn new(db: &DatabaseConnection) -> Self {
        let own = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            let options = db.get_postgres_connection_pool().connect_options();
            Arc::new(Own {
                port: options.get_socket().is_none().then(|| options.get_port()),
                // Every statement sent here reaches its rows by key. A plan
                // PostgreSQL caches for a connection's life, made while a
                // table was small, scanned the whole table ever after
                // (BENCHMARKS.md, 2026-12-05); with sequential scans off
                // the planner takes the index whatever the size.
                options: options
                    .as_ref()
                    .clone()
                    .options([("enable_seqscan", "off")]),
                idle: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(SIZE)),
            })
        });
        Self {
            regular: db.clone(),
            own,
        }
    }

    /// The regular pool (for transactions and everything else).
    pub fn regular(&self) -> &DatabaseConnection {
        &self.regular
    }

    async fn lease(own: &Arc<Own>) -> Result<Lease, DbErr> {
        let slot = own
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbErr::Custom("the quick connections are closed".into()))?;
        let popped = own.idle.lock().expect("the idle list").pop();
        let conn = match popped {
            Some((mut conn, since)) if since.elapsed() >= IDLE_CHECK => match conn.ping().await {
                Ok(()) => conn,
                Err(_) => Self::open(own).await?,
            },
            Some((conn, _)) => conn,
            None => Self::open(own).await?,
        };
        Ok(Lease {
            conn: Some(conn),
            own: own.clone(),
            _slot: slot,
        })
    }

    async fn open(own: &Own) -> Result<PgConnection, DbErr> {
        let conn = PgConnection::connect_with(&own.options)
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        if let Some(port) = own.port {
            crate::tcp_nodelay::set_on_sockets_to(port);
        }
        Ok(conn)
    }

    /// Connections open and idle (for tests).
    pub fn idle(&self) -> usize {
        self.own
            .as_ref()
            .map_or(0, |own| own.idle.lock().expect("the idle list").len())
    }
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn bound(stmt: &Statement) -> sqlx::query::Query<'_, sqlx::Postgres, SqlxValues> {
    let values = stmt
        .values
        .clone()
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for QuickDb {
    fn get_database_backend(&self) -> DbBackend {
        self.regular.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let Some(own) = &self.own else {
            return self.regular.execute_raw(stmt).await;
        };
        let mut lease = Self::lease(own).await?;
        let done = bound(&stmt).execute(lease.conn()).await.map_err(exec_err)?;
        lease.give_back();
        Ok(done.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let Some(own) = &self.own else {
            return self.regular.execute_unprepared(sql).await;
        };
        let mut lease = Self::lease(own).await?;
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(lease.conn())
            .await
            .map_err(exec_err)?;
        lease.give_back();
        Ok(done.into())
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let Some(own) = &self.own else {
            return self.regular.query_one_raw(stmt).await;
        };
        let mut lease = Self::lease(own).await?;
        let row = bound(&stmt)
            .fetch_optional(lease.conn())
            .await
            .map_err(query_err)?;
        lease.give_back();
        Ok(row.map(QueryResult::from))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(own) = &self.own else {
            return self.regular.query_all_raw(stmt).await;
        };
        let mut lease = Self::lease(own).await?;
        let rows = bound(&stmt)
            .fetch_all(lease.conn())
            .await
            .map_err(query_err)?;
        lease.give_back();
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }
}
