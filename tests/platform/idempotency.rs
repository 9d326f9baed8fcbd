//! Idempotency keys keep one contract on PostgreSQL and on SQLite: the
//! first request runs, a repeat gets its answer, another body is refused, a
//! running request is not run twice (even when many race), a failed one
//! may be retried, tenants never share keys, and a key is free after 24 h.

use aerostic_dispatcher::entity::idempotency_key;
use aerostic_dispatcher::idempotency::{Claim, Idempotency};
use aerostic_kit::ids::TenantId;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

async fn keeps_the_contract(db: sea_orm::DatabaseConnection) {
    let keys = Idempotency::new(db.clone());
    let (tenant, other) = (TenantId::new(), TenantId::new());
    let body = br#"{"to":"5511988887777","type":"text","text":{"body":"oi"}}"#;

    assert_eq!(keys.claim(tenant, "k1", body).await.unwrap(), Claim::Fresh);
    assert_eq!(
        keys.claim(tenant, "k1", body).await.unwrap(),
        Claim::InFlight
    );
    keys.complete(tenant, "k1", r#"{"id":"m1"}"#).await.unwrap();
    assert_eq!(
        keys.claim(tenant, "k1", body).await.unwrap(),
        Claim::Replay(r#"{"id":"m1"}"#.into())
    );
    assert_eq!(
        keys.claim(tenant, "k1", b"another body").await.unwrap(),
        Claim::Conflict
    );
    assert_eq!(
        keys.claim(other, "k1", body).await.unwrap(),
        Claim::Fresh,
        "tenants never share keys"
    );

    // Many at once with one key: exactly one runs.
    let racing: Vec<_> = (0..16)
        .map(|_| {
            let keys = keys.clone();
            tokio::spawn(async move { keys.claim(tenant, "k2", body).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for r in racing {
        fresh += usize::from(r.await.unwrap() == Claim::Fresh);
    }
    assert_eq!(fresh, 1);

    // A request that failed without effect frees its key.
    keys.abandon(tenant, "k2").await.unwrap();
    assert_eq!(keys.claim(tenant, "k2", body).await.unwrap(), Claim::Fresh);

    // Remembered 24 hours, then the key is free for a new request.
    let mut old: idempotency_key::ActiveModel =
        idempotency_key::Entity::find_by_id((tenant.to_string(), "k1".to_string()))
            .one(&db)
            .await
            .unwrap()
            .unwrap()
            .into();
    old.created_at = Set(chrono::Utc::now() - chrono::TimeDelta::hours(25));
    old.update(&db).await.unwrap();
    assert_eq!(
        keys.claim(tenant, "k1", b"a new request").await.unwrap(),
        Claim::Fresh
    );
    assert_eq!(
        keys.sweep().await.unwrap(),
        0,
        "the taken-over key is young again"
    );
}

#[tokio::test]
async fn idempotency_keys_on_postgres_keep_the_contract() {
    keeps_the_contract(crate::common::migrated_postgres().await).await;
}

#[tokio::test]
async fn idempotency_keys_on_sqlite_keep_the_contract() {
    keeps_the_contract(crate::common::migrated_sqlite().await).await;
}
