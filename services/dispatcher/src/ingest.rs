//! Applying a stored webhook: each change is routed to its tenant by
//! `phone_number_id` (changes for unknown numbers are kept and reported),
//! then its messages and statuses are stored in one transaction with the
//! events they raise. Meta's duplicates change nothing: a message is stored
//! once per wamid and a status once per `(wamid, status)`, and statuses only
//! ever move a message forward (sent < delivered < read; failed is final).

use aerostic_kit::broker::Envelope;
use aerostic_kit::ids::TenantId;
use aerostic_kit::outbox::Outbox;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, TransactionTrait, TryInsertResult,
};
use serde_json::Value;

use crate::entity::{contact, conversation, message, message_status, unrouted_change};
use crate::events::{self, ContactOptedOut, MessageReceived, MessageStatusChanged};
use crate::payload::{self, MessagesValue, Payload, WaContact};
use crate::routes::Routes;

/// What one webhook held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Messages stored.
    pub messages: u32,
    /// Statuses recorded.
    pub statuses: u32,
    /// Messages and statuses already known.
    pub duplicates: u32,
    /// Changes for numbers no tenant owns.
    pub unrouted: u32,
}

/// Why a webhook was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not a payload of Meta's (kept as received; retrying will not help).
    #[error("not a webhook payload: {0}")]
    Malformed(String),
    /// The database failed; the webhook is retried.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// Tenancy could not route it; the webhook is retried.
    #[error("routing: {0}")]
    Routing(tonic::Status),
}

/// Words that opt a contact out when they are the whole message (any case).
pub const STOP_WORDS: &[&str] = &[
    "stop",
    "unsubscribe",
    "stopall",
    "cancel",
    "end",
    "quit",
    "parar",
    "sair",
    "cancelar",
    "baja",
    "alto",
    "arrêt",
    "arret",
    "stopp",
];

/// Applies stored webhooks.
#[derive(Clone)]
pub struct Ingest {
    db: DatabaseConnection,
    routes: Routes,
    outbox: Outbox,
}

fn rank(status: &str) -> u8 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "played" => 4,
        "failed" => 5,
        _ => 0,
    }
}

/// The text a person reads in `message`, if it has one.
fn text_of(message: &Value) -> Option<String> {
    let kind = message["type"].as_str().unwrap_or_default();
    let inner = &message[kind];
    [
        &inner["body"],
        &inner["caption"],
        &inner["text"],
        &inner["button_reply"]["title"],
        &inner["list_reply"]["title"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().map(str::to_string))
    .filter(|_| kind != "system" || inner["body"].is_string())
}

impl Ingest {
    /// Applies webhooks to `db`, routing with `routes`, staging events in `outbox`.
    pub fn new(db: DatabaseConnection, routes: Routes, outbox: Outbox) -> Self {
        Self { db, routes, outbox }
    }

    /// Applies webhook `webhook_id`'s `body`.
    pub async fn apply(&self, webhook_id: &str, body: &[u8]) -> Result<Summary, IngestError> {
        let payload: Payload =
            serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
        if payload.object != "whatsapp_business_account" {
            return Err(IngestError::Malformed(format!(
                "object is {:?}",
                payload.object
            )));
        }
        let mut summary = Summary::default();
        for change in payload.entry.iter().flat_map(|e| &e.changes) {
            let number = change.value["metadata"]["phone_number_id"]
                .as_str()
                .unwrap_or_default();
            if number.is_empty() {
                // Template, quality and account updates: stored with the raw
                // webhook; turned into events by a later step.
                continue;
            }
            let Some(tenant) = self
                .routes
                .tenant_of(number)
                .await
                .map_err(IngestError::Routing)?
            else {
                self.unrouted(webhook_id, number, change).await?;
                summary.unrouted += 1;
                continue;
            };
            let txn = self.db.begin().await?;
            match change.field.as_str() {
                "messages" => {
                    let value: MessagesValue = serde_json::from_value(change.value.clone())
                        .map_err(|e| IngestError::Malformed(e.to_string()))?;
                    self.messages(&txn, tenant, &value, &mut summary).await?;
                }
                "user_preferences" => self.preferences(&txn, tenant, &change.value).await?,
                _ => {}
            }
            txn.commit().await?;
        }
        self.outbox.wake();
        Ok(summary)
    }

    async fn unrouted(
        &self,
        webhook_id: &str,
        number: &str,
        change: &payload::Change,
    ) -> Result<(), DbErr> {
        metrics::counter!("aerostic_webhook_unrouted_changes_total").increment(1);
        tracing::warn!(phone_number_id = number, field = %change.field, "a webhook change for a number no tenant owns was kept");
        unrouted_change::Entity::insert(unrouted_change::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            webhook_id: Set(webhook_id.to_string()),
            phone_number_id: Set(number.chars().take(64).collect()),
            field: Set(change.field.chars().take(64).collect()),
            payload: Set(change.value.to_string()),
            created_at: Set(Utc::now()),
        })
        .exec(&self.db)
        .await
        .map(|_| ())
    }

    async fn messages(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        value: &MessagesValue,
        summary: &mut Summary,
    ) -> Result<(), IngestError> {
        let number = &value.metadata.phone_number_id;
        for raw in &value.messages {
            let Some(wamid) = raw["id"].as_str() else {
                continue;
            };
            let from = raw["from"].as_str();
            let from_user = raw["from_user_id"].as_str();
            let profile = value
                .contacts
                .iter()
                .find(|c| {
                    (from.is_some() && c.wa_id.as_deref() == from)
                        || (from_user.is_some() && c.user_id.as_deref() == from_user)
                })
                .cloned()
                .unwrap_or_else(|| WaContact {
                    wa_id: from.map(str::to_string),
                    user_id: from_user.map(str::to_string),
                    ..Default::default()
                });
            let contact = contact_for(txn, tenant, &profile).await?;
            let now = Utc::now();
            let sent_at = payload::seconds(&raw["timestamp"]).unwrap_or(now);
            let conversation = conversation_for(txn, tenant, &contact.id, number, sent_at).await?;
            let kind = raw["type"].as_str().unwrap_or("unsupported").to_string();
            let id = uuid::Uuid::now_v7().to_string();
            let inserted = message::Entity::insert(message::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(tenant.to_string()),
                conversation_id: Set(conversation.id.clone()),
                contact_id: Set(contact.id.clone()),
                direction: Set("inbound".into()),
                kind: Set(kind.chars().take(32).collect()),
                content: Set(raw.to_string()),
                wamid: Set(Some(wamid.chars().take(128).collect())),
                context_wamid: Set(raw["context"]["id"].as_str().map(str::to_string)),
                status: Set("received".into()),
                error_code: Set(None),
                error_title: Set(String::new()),
                sent_at: Set(sent_at),
                status_at: Set(now),
                created_at: Set(now),
            })
            .on_conflict_do_nothing_on([message::Column::Wamid])
            .exec(txn)
            .await?;
            if !matches!(inserted, TryInsertResult::Inserted(_)) {
                summary.duplicates += 1;
                continue;
            }
            summary.messages += 1;
            conversation::Entity::update_many()
                .col_expr(conversation::Column::Status, Expr::value("open"))
                .col_expr(
                    conversation::Column::UnreadCount,
                    Expr::col(conversation::Column::UnreadCount).add(1),
                )
                // Meta's time of the message, never moving back: workers may
                // apply a conversation's webhooks out of order.
                .col_expr(
                    conversation::Column::LastInboundAt,
                    Expr::value(
                        conversation
                            .last_inbound_at
                            .map_or(sent_at, |t| Ord::max(t, sent_at)),
                    ),
                )
                .col_expr(
                    conversation::Column::LastMessageAt,
                    Expr::value(Ord::max(conversation.last_message_at, sent_at)),
                )
                .filter(conversation::Column::Id.eq(conversation.id.clone()))
                .exec(txn)
                .await?;
            let text = text_of(raw);
            if kind == "text"
                && let Some(t) = &text
                && STOP_WORDS.contains(&t.trim().to_lowercase().as_str())
            {
                self.opt_out(txn, tenant, &contact.id, "keyword").await?;
            }
            let event = MessageReceived {
                tenant_id: tenant.to_string(),
                message_id: id,
                conversation_id: conversation.id,
                contact_id: contact.id,
                phone_number_id: number.clone(),
                wamid: wamid.to_string(),
                kind,
                text,
                message: raw.clone(),
            };
            self.outbox
                .stage(txn, &Envelope::json(events::MESSAGE_RECEIVED, &event))
                .await?;
        }
        for status in &value.statuses {
            let occurred_at = payload::seconds(&status.timestamp).unwrap_or_else(Utc::now);
            let detail = serde_json::json!({"pricing": status.pricing, "errors": status.errors});
            let recorded = message_status::Entity::insert(message_status::ActiveModel {
                wamid: Set(status.id.chars().take(128).collect()),
                status: Set(status.status.chars().take(16).collect()),
                tenant_id: Set(tenant.to_string()),
                occurred_at: Set(occurred_at),
                detail: Set(detail.to_string()),
                applied: Set(false),
                received_at: Set(Utc::now()),
            })
            .on_conflict_do_nothing_on([
                message_status::Column::Wamid,
                message_status::Column::Status,
            ])
            .exec(txn)
            .await?;
            if !matches!(recorded, TryInsertResult::Inserted(_)) {
                summary.duplicates += 1;
                continue;
            }
            summary.statuses += 1;
            apply_pending(txn, &self.outbox, tenant, &status.id).await?;
        }
        Ok(())
    }

    async fn preferences(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        value: &Value,
    ) -> Result<(), IngestError> {
        for pref in value["user_preferences"].as_array().into_iter().flatten() {
            let profile = WaContact {
                wa_id: pref["wa_id"].as_str().map(str::to_string),
                user_id: pref["user_id"].as_str().map(str::to_string),
                ..Default::default()
            };
            let contact = contact_for(txn, tenant, &profile).await?;
            match pref["value"].as_str() {
                Some("stop") => {
                    self.opt_out(txn, tenant, &contact.id, "user_preferences")
                        .await?
                }
                Some("resume") => {
                    contact::Entity::update_many()
                        .col_expr(contact::Column::OptedOut, Expr::value(false))
                        .col_expr(contact::Column::UpdatedAt, Expr::value(Utc::now()))
                        .filter(contact::Column::Id.eq(contact.id))
                        .exec(txn)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn opt_out(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        contact_id: &str,
        source: &str,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let changed = contact::Entity::update_many()
            .col_expr(contact::Column::OptedOut, Expr::value(true))
            .col_expr(contact::Column::OptedOutAt, Expr::value(now))
            .col_expr(contact::Column::OptOutSource, Expr::value(source))
            .col_expr(contact::Column::UpdatedAt, Expr::value(now))
            .filter(contact::Column::Id.eq(contact_id))
            .filter(contact::Column::OptedOut.eq(false))
            .exec(txn)
            .await?
            .rows_affected;
        if changed == 1 {
            let event = ContactOptedOut {
                tenant_id: tenant.to_string(),
                contact_id: contact_id.to_string(),
                source: source.to_string(),
            };
            self.outbox
                .stage(txn, &Envelope::json(events::CONTACT_OPTED_OUT, &event))
                .await?;
        }
        Ok(())
    }
}

/// The tenant's contact for a sender, created on first contact (a
/// concurrent first contact is found, not duplicated).
async fn contact_for(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    who: &WaContact,
) -> Result<contact::Model, DbErr> {
    let find = || async {
        let mut query =
            contact::Entity::find().filter(contact::Column::TenantId.eq(tenant.to_string()));
        query = match (&who.wa_id, &who.user_id) {
            (Some(wa), _) => query.filter(contact::Column::WaId.eq(wa.clone())),
            (None, Some(bsuid)) => query.filter(contact::Column::Bsuid.eq(bsuid.clone())),
            (None, None) => return Ok(None),
        };
        query.one(txn).await
    };
    let now = Utc::now();
    if let Some(found) = find().await? {
        let name = &who.profile.name;
        if (!name.is_empty() && *name != found.profile_name)
            || (found.bsuid.is_none() && who.user_id.is_some())
        {
            contact::Entity::update_many()
                .col_expr(
                    contact::Column::ProfileName,
                    Expr::value(if name.is_empty() {
                        found.profile_name.clone()
                    } else {
                        name.clone()
                    }),
                )
                .col_expr(
                    contact::Column::Bsuid,
                    Expr::value(found.bsuid.clone().or_else(|| who.user_id.clone())),
                )
                .col_expr(contact::Column::UpdatedAt, Expr::value(now))
                .filter(contact::Column::Id.eq(found.id.clone()))
                .exec(txn)
                .await?;
        }
        return Ok(found);
    }
    contact::Entity::insert(contact::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        tenant_id: Set(tenant.to_string()),
        wa_id: Set(who.wa_id.clone()),
        bsuid: Set(who.user_id.clone()),
        profile_name: Set(who.profile.name.chars().take(200).collect()),
        opted_out: Set(false),
        opted_out_at: Set(None),
        opt_out_source: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(txn)
    .await?;
    find()
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("a contact without wa_id or user id".into()))
}

/// The thread of `contact` on `number`, created on first contact.
async fn conversation_for(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    contact_id: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Result<conversation::Model, DbErr> {
    let find = || {
        conversation::Entity::find()
            .filter(conversation::Column::TenantId.eq(tenant.to_string()))
            .filter(conversation::Column::ContactId.eq(contact_id))
            .filter(conversation::Column::PhoneNumberId.eq(number))
            .one(txn)
    };
    if let Some(found) = find().await? {
        return Ok(found);
    }
    conversation::Entity::insert(conversation::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        tenant_id: Set(tenant.to_string()),
        contact_id: Set(contact_id.to_string()),
        phone_number_id: Set(number.to_string()),
        status: Set("open".into()),
        assignee_id: Set(None),
        unread_count: Set(0),
        last_inbound_at: Set(None),
        last_message_at: Set(now),
        created_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(txn)
    .await?;
    find()
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the conversation just made".into()))
}

/// Applies the recorded, not yet applied statuses of `wamid` to its
/// message, if `tenant` has one with that wamid: each moves it forward only,
/// and each raises `message.status` once. Called when a status arrives, and
/// when an outbound message's wamid is recorded (a status may come first).
pub async fn apply_pending(
    txn: &impl ConnectionTrait,
    outbox: &Outbox,
    tenant: TenantId,
    wamid: &str,
) -> Result<usize, DbErr> {
    let Some(message) = message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.to_string()))
        .filter(message::Column::Wamid.eq(wamid))
        .one(txn)
        .await?
    else {
        return Ok(0);
    };
    let pending = message_status::Entity::find()
        .filter(message_status::Column::Wamid.eq(wamid))
        .filter(message_status::Column::TenantId.eq(tenant.to_string()))
        .filter(message_status::Column::Applied.eq(false))
        .all(txn)
        .await?;
    let mut current = message.status.clone();
    let mut latest: Option<(String, DateTime<Utc>, Option<i64>, String)> = None;
    for status in &pending {
        let detail: Value = serde_json::from_str(&status.detail).unwrap_or_default();
        let error = &detail["errors"][0];
        let error_code = error["code"].as_i64();
        let moves = current != "failed"
            && (status.status == "failed" || rank(&status.status) > rank(&current));
        if moves {
            current = status.status.clone();
            latest = Some((
                status.status.clone(),
                status.occurred_at,
                error_code,
                error["title"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let event = MessageStatusChanged {
            tenant_id: tenant.to_string(),
            message_id: message.id.clone(),
            wamid: wamid.to_string(),
            status: status.status.clone(),
            pricing: detail.get("pricing").filter(|p| !p.is_null()).cloned(),
            error_code,
        };
        outbox
            .stage(txn, &Envelope::json(events::MESSAGE_STATUS, &event))
            .await?;
    }
    if let Some((status, at, code, title)) = latest {
        // Conditional on what the row holds when the update runs: a worker
        // applying a later status of the same message at the same time
        // cannot be overwritten by an earlier one.
        let earlier: Vec<&str> = ["queued", "sent", "delivered", "read", "played"]
            .into_iter()
            .filter(|s| status == "failed" || rank(s) < rank(&status))
            .collect();
        message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::value(status))
            .col_expr(message::Column::StatusAt, Expr::value(at))
            .col_expr(
                message::Column::ErrorCode,
                Expr::value(code.map(|c| c as i32)),
            )
            .col_expr(
                message::Column::ErrorTitle,
                Expr::value(title.chars().take(300).collect::<String>()),
            )
            .filter(message::Column::Id.eq(message.id.clone()))
            .filter(message::Column::Status.is_in(earlier))
            .exec(txn)
            .await?;
    }
    message_status::Entity::update_many()
        .col_expr(message_status::Column::Applied, Expr::value(true))
        .filter(message_status::Column::Wamid.eq(wamid))
        .filter(message_status::Column::TenantId.eq(tenant.to_string()))
        .exec(txn)
        .await?;
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_ordered_and_texts_found_in_every_kind() {
        assert!(rank("read") > rank("delivered") && rank("delivered") > rank("sent"));
        assert!(rank("failed") > rank("read"));
        let button = serde_json::json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}});
        assert_eq!(text_of(&button).as_deref(), Some("Yes"));
        let image = serde_json::json!({"type": "image", "image": {"id": "1", "caption": "look"}});
        assert_eq!(text_of(&image).as_deref(), Some("look"));
        let reaction =
            serde_json::json!({"type": "reaction", "reaction": {"message_id": "w", "emoji": ""}});
        assert_eq!(text_of(&reaction), None);
    }
}
