//! The object stores keep one contract: the filesystem, the database on
//! PostgreSQL and the database on SQLite each give back exactly what was put,
//! replace on a second put, answer `NotFound` for a missing key, and refuse
//! keys that are not ours.

use std::io::ErrorKind;

use aerostic_dispatcher::objects::{DatabaseStore, LocalStore, ObjectStore};

async fn keeps_the_contract(store: &dyn ObjectStore) {
    let tenant = uuid::Uuid::new_v4();
    let key = format!("{tenant}/{}", uuid::Uuid::now_v7());
    // Every byte value, a megabyte of them.
    let bytes: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    store.put(&key, &bytes).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), bytes);

    store.put(&key, b"replaced").await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), b"replaced");

    let missing = store.get(&format!("{tenant}/nothing-here")).await;
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);

    for bad in ["", "../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a b"] {
        assert!(store.put(bad, b"x").await.is_err(), "{bad:?} was taken");
        assert!(store.get(bad).await.is_err(), "{bad:?} was read");
    }
}

#[tokio::test]
async fn the_filesystem_store_keeps_the_contract() {
    let root = std::env::temp_dir().join(format!("aerostic-objects-{}", uuid::Uuid::new_v4()));
    keeps_the_contract(&LocalStore::new(&root)).await;
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn the_database_store_on_postgres_keeps_the_contract() {
    keeps_the_contract(&DatabaseStore::new(
        crate::common::migrated_postgres().await,
    ))
    .await;
}

#[tokio::test]
async fn the_database_store_on_sqlite_keeps_the_contract() {
    keeps_the_contract(&DatabaseStore::new(crate::common::migrated_sqlite().await)).await;
}
