//! A transaction begun with `begin_write` on SQLite holds the write lock
//! from its first statement, so reading before writing cannot fail because
//! another connection wrote in between: that writer waits instead.

use std::time::Duration;

use aerostic_kit::db::{self, testing::scalar};
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn a_write_transaction_that_reads_first_is_not_undone_by_a_concurrent_writer() {
    let dir = std::env::temp_dir().join(format!("aerostic-writes-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let url = format!("sqlite:{}", dir.join("writes.db").display());
    let db = db::connect(&url).await.expect("connect");
    db.execute_unprepared("CREATE TABLE t (n INTEGER NOT NULL)")
        .await
        .expect("a table");

    let txn = db::begin_write(&db).await.expect("begin");
    let before = txn
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) FROM t",
        ))
        .await
        .expect("a read")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a count");
    // Another connection writes while this transaction holds its snapshot.
    let other = {
        let db = db.clone();
        tokio::spawn(async move { db.execute_unprepared("INSERT INTO t VALUES (1)").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    txn.execute_unprepared(&format!("INSERT INTO t VALUES ({})", before + 10))
        .await
        .expect("the write after the read succeeds");
    txn.commit().await.expect("commit");
    other
        .await
        .expect("the other writer ran")
        .expect("the other writer waited and then wrote");
    assert_eq!(scalar(&db, "SELECT count(*) FROM t").await.unwrap(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
