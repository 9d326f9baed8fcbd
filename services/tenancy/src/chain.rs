//! The audit log as an HMAC-SHA256 hash chain. Entry *n* stores its position
//! `seq`, the previous entry's hash, and
//! `hash = HMAC(key, prev_hash ‖ canonical(entry))`. Editing, inserting or
//! deleting a row breaks the link at that row (or the next); recomputing the
//! chain after an edit needs the key, which the database never holds.
//! Appends race on the unique `seq`: the loser re-reads the head and retries.

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, SqlErr,
};
use sha2::Sha256;

use crate::entity::audit_event;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Attempts an append makes when other writers keep taking the next slot.
const APPEND_ATTEMPTS: usize = 8;
/// Rows read per page while verifying.
const VERIFY_PAGE: u64 = 1_000;

/// One event to append.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The event's id (the envelope id: redeliveries are recognised).
    pub id: String,
    /// The tenant it concerns.
    pub tenant_id: String,
    /// Who did it.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// Masked detail.
    pub detail: String,
    /// The request's trace id.
    pub trace_id: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Entries checked before stopping.
    pub checked: u64,
    /// The first entry whose link does not hold, if any.
    pub first_broken: Option<String>,
}

/// The chain's key and its operations.
#[derive(Clone)]
pub struct Chain {
    key: Vec<u8>,
}

impl Chain {
    /// A chain keyed by `secret` (`AEROSTIC_AUDIT_SECRET`).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn link(&self, seq: i64, prev_hash: &str, e: &Entry) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        // Length-prefixed fields: no two different entries share an encoding.
        for field in [
            prev_hash,
            &seq.to_string(),
            &e.id,
            &e.tenant_id,
            &e.actor,
            &e.action,
            &e.detail,
            &e.trace_id,
            &e.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Appends `entry` after the current head; nothing if its id is already in.
    pub async fn append(&self, db: &DatabaseConnection, mut entry: Entry) -> Result<(), DbErr> {
        // What PostgreSQL keeps (microseconds) is what gets hashed.
        entry.occurred_at = entry.occurred_at.trunc_subsecs(6);
        for _ in 0..APPEND_ATTEMPTS {
            if audit_event::Entity::find_by_id(&entry.id)
                .one(db)
                .await?
                .is_some()
            {
                return Ok(());
            }
            let head = audit_event::Entity::find()
                .filter(audit_event::Column::Seq.is_not_null())
                .order_by_desc(audit_event::Column::Seq)
                .one(db)
                .await?;
            let (seq, prev) = match head {
                Some(h) => (
                    h.seq.unwrap_or_default() + 1,
                    h.hash.unwrap_or_else(|| GENESIS.into()),
                ),
                None => (1, GENESIS.to_string()),
            };
            let hash = self.link(seq, &prev, &entry);
            let row = audit_event::ActiveModel {
                id: Set(entry.id.clone()),
                tenant_id: Set(entry.tenant_id.clone()),
                actor: Set(entry.actor.clone()),
                action: Set(entry.action.clone()),
                detail: Set(entry.detail.clone()),
                trace_id: Set(entry.trace_id.clone()),
                occurred_at: Set(entry.occurred_at),
                seq: Set(Some(seq)),
                prev_hash: Set(Some(prev)),
                hash: Set(Some(hash)),
            };
            match audit_event::Entity::insert(row)
                .exec_without_returning(db)
                .await
            {
                Ok(_) => return Ok(()),
                // Another writer took this slot (or this id): read the head again.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(DbErr::Custom(
            "audit chain: too much contention to append".into(),
        ))
    }

    /// Walks the chain from the start; stops at the first broken link.
    pub async fn verify(&self, db: &DatabaseConnection) -> Result<Verdict, DbErr> {
        let mut pages = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.is_not_null())
            .order_by_asc(audit_event::Column::Seq)
            .paginate(db, VERIFY_PAGE);
        let (mut expected_seq, mut prev, mut checked) = (1i64, GENESIS.to_string(), 0u64);
        while let Some(rows) = pages.fetch_and_next().await? {
            for row in rows {
                let seq = row.seq.unwrap_or_default();
                let entry = Entry {
                    id: row.id.clone(),
                    tenant_id: row.tenant_id,
                    actor: row.actor,
                    action: row.action,
                    detail: row.detail,
                    trace_id: row.trace_id,
                    occurred_at: row.occurred_at,
                };
                let stored = row.hash.unwrap_or_default();
                let intact = seq == expected_seq
                    && row.prev_hash.as_deref() == Some(prev.as_str())
                    && self.link(seq, &prev, &entry) == stored;
                if !intact {
                    return Ok(Verdict {
                        checked,
                        first_broken: Some(row.id),
                    });
                }
                checked += 1;
                expected_seq = seq + 1;
                prev = stored;
            }
        }
        Ok(Verdict {
            checked,
            first_broken: None,
        })
    }
}
