//! Contact lookups asked together share a statement, and each still finds
//! only its own tenant's contact. Real PostgreSQL, a database of its own.

use aerostic_dispatcher::contact_reads::ContactReads;
use aerostic_dispatcher::entity::contact;
use aerostic_kit::db::QuickDb;
use aerostic_kit::ids::TenantId;
use aerostic_migrations::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};

async fn database() -> DatabaseConnection {
    let url = aerostic_kit::db::testing::fresh_postgres_database()
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let db = aerostic_kit::db::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

async fn contact_of(db: &DatabaseConnection, tenant: TenantId, wa_id: &str) -> String {
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    contact::Model {
        id: id.clone(),
        tenant_id: tenant.to_string(),
        wa_id: Some(wa_id.to_string()),
        bsuid: None,
        profile_name: String::new(),
        opted_out: false,
        opted_out_at: None,
        opt_out_source: String::new(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn lookups_asked_together_each_find_only_their_own_tenants_contact() {
    let db = database().await;
    let (a, b) = (TenantId::new(), TenantId::new());
    let (x, y) = ("4915112345678", "447700900123");
    let a_x = contact_of(&db, a, x).await;
    let b_x = contact_of(&db, b, x).await;
    let b_y = contact_of(&db, b, y).await;
    let reads = ContactReads::new(QuickDb::new(&db));
    let asked = [(a, x), (b, x), (a, y), (b, y)];
    let lookups = (0..80).map(|i| {
        let reads = reads.clone();
        let (tenant, wa_id) = asked[i % asked.len()];
        async move {
            let found = reads.find(tenant, wa_id).await.unwrap();
            ((tenant, wa_id), found.map(|c| c.id))
        }
    });
    for (key, found) in futures::future::join_all(lookups).await {
        let expected = match key {
            k if k == (a, x) => Some(a_x.clone()),
            k if k == (b, x) => Some(b_x.clone()),
            k if k == (b, y) => Some(b_y.clone()),
            _ => None,
        };
        assert_eq!(found, expected, "the contact of {key:?}");
    }
}
