//! Operator commands that work on the database directly: creating a super
//! admin (never possible over the API), verifying the audit chain, and
//! listing and replaying dead letters (the running dispatcher's relay
//! publishes the hand-offs a replay stages).

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

/// `aerostic dlq list`.
pub async fn list_dead_letters(src: &Source) -> anyhow::Result<()> {
    let db = database(src).await?;
    let rows = aerostic_dispatcher::dead_letters::list(&db, None, 10_000).await?;
    for r in &rows {
        println!(
            "{}\ttenant {}\tnumber {}\t{} attempts\tsince {}\t{}",
            r.message_id,
            r.tenant_id,
            r.phone_number_id,
            r.attempts,
            r.updated_at.to_rfc3339(),
            aerostic_kit::mask::mask(&r.last_error)
        );
    }
    println!("{} dead letters", rows.len());
    Ok(())
}

/// `aerostic dlq replay [IDS] [--all [--tenant T]]`.
pub async fn replay_dead_letters(
    src: &Source,
    ids: Vec<String>,
    all: bool,
    tenant: Option<String>,
) -> anyhow::Result<()> {
    if ids.is_empty() != all {
        anyhow::bail!("name the message ids, or --all (with --tenant to limit it)");
    }
    let tenant = tenant
        .map(|t| t.parse::<aerostic_kit::ids::TenantId>())
        .transpose()
        .map_err(|_| anyhow::anyhow!("--tenant must be a workspace id (a UUID)"))?;
    let db = database(src).await?;
    let ids = if all {
        aerostic_dispatcher::dead_letters::list(&db, tenant, 100_000)
            .await?
            .into_iter()
            .map(|r| r.message_id)
            .collect()
    } else {
        ids
    };
    let outbox = Outbox::new(aerostic_dispatcher::OUTBOX_TABLE);
    let mut replayed = 0;
    for id in &ids {
        match aerostic_dispatcher::dead_letters::replay(&db, &outbox, tenant, id).await {
            Ok(()) => replayed += 1,
            Err(e) => eprintln!("{id}: {}: {}", e.code, e.message),
        }
    }
    println!("replayed {replayed} of {} dead letters", ids.len());
    if replayed < ids.len() {
        anyhow::bail!("{} could not be replayed", ids.len() - replayed);
    }
    Ok(())
}
