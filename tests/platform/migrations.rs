//! The migrations apply, and apply again harmlessly, on both backends.

use aerostic_migrations::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;

async fn applies_twice_and_creates_the_tables(url: &str) {
    aerostic_launcher::migrate(url).await.unwrap();
    aerostic_launcher::migrate(url).await.unwrap();
    let db = aerostic_kit::db::connect(url).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    for table in ["tenants", "users", "audit_events", "tenancy_outbox"] {
        db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
}

#[tokio::test]
async fn migrations_apply_on_a_fresh_postgres_database() {
    let url = aerostic_kit::db::testing::fresh_postgres_database()
        .await
        .unwrap();
    applies_twice_and_creates_the_tables(&url).await;
}

#[tokio::test]
async fn migrations_apply_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    applies_twice_and_creates_the_tables(&url).await;
}

/// The latest migration undoes and applies again: an operator's rollback of
/// the last step, on either backend, leaves a schema the next `up` accepts.
async fn the_latest_step_rolls_back_and_applies_again(url: &str) {
    aerostic_launcher::migrate(url).await.unwrap();
    let db = aerostic_kit::db::connect(url).await.unwrap();
    let applied = Migrator::get_applied_migrations(&db).await.unwrap().len();
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        1,
        "one step undone"
    );
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        applied
    );
}

#[tokio::test]
async fn the_latest_migration_rolls_back_and_applies_again_on_postgres() {
    let url = aerostic_kit::db::testing::fresh_postgres_database()
        .await
        .unwrap();
    the_latest_step_rolls_back_and_applies_again(&url).await;
}

#[tokio::test]
async fn the_latest_migration_rolls_back_and_applies_again_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    the_latest_step_rolls_back_and_applies_again(&url).await;
}
