//! Operator commands that work on the database directly: creating a super
//! admin (never possible over the API) and verifying the audit chain.

use aerostic_kit::config::{Secrets, Source};
use aerostic_kit::outbox::Outbox;
use anyhow::Context as _;

async fn database(src: &Source) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let url = src.required("AEROSTIC_DATABASE_URL", "a postgres:// or sqlite:// URL")?;
    aerostic_kit::db::connect(&url)
        .await
        .context("connecting to the database")
}

/// `aerostic admin create-super-admin --email E` (password from the
/// environment variable `password_env`, so it stays out of shell history).
pub async fn create_super_admin(
    src: &Source,
    email: &str,
    password_env: &str,
) -> anyhow::Result<()> {
    let password = src.required(password_env, "the new super admin's password")?;
    let db = database(src).await?;
    let tenants =
        aerostic_tenancy::tenants::Tenants::new(db, Outbox::new(aerostic_tenancy::OUTBOX_TABLE));
    let user = tenants
        .create_super_admin(email, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {} {:?}", e.code, e.message, e.details))?;
    println!("super admin {} created; sign in on the admin host", user.id);
    Ok(())
}

/// `aerostic audit verify`: walks the chain; fails naming the first broken link.
pub async fn verify_audit(src: &Source) -> anyhow::Result<()> {
    let secrets = Secrets::from_source(src)?;
    let db = database(src).await?;
    let chain = aerostic_tenancy::chain::Chain::new(secrets.audit_secret.as_bytes());
    let verdict = chain.verify(&db).await.context("reading the audit log")?;
    match verdict.first_broken {
        None => {
            println!("audit chain intact: {} entries checked", verdict.checked);
            Ok(())
        }
        Some(id) => anyhow::bail!(
            "audit chain broken at event {id} (after {} intact entries)",
            verdict.checked
        ),
    }
}
