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
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, TryInsertResult,
};
use serde_json::Value;

use crate::entity::{
    account_event, contact, conversation, message, message_status, unrouted_change,
};
use crate::events::{self, ContactOptedOut, MessageReceived, TemplateStatus};
use crate::keywords::Keywords;
use crate::payload::{self, MessagesValue, Payload, WaContact};
use crate::routes::Routes;
use crate::statuses::apply_pending;
use crate::threads::{contact_for, conversation_for};

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

impl Summary {
    /// The outcome kept with the webhook.
    pub fn outcome(&self) -> String {
        format!(
            "messages {}, statuses {}, duplicates {}, unrouted {}",
            self.messages, self.statuses, self.duplicates, self.unrouted
        )
    }
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

/// Applies stored webhooks.
#[derive(Clone)]
pub struct Ingest {
    db: DatabaseConnection,
    routes: Routes,
    outbox: Outbox,
    /// Senders' contacts and conversations already stored, by tenant,
    /// sender and number: a regular's message skips both lookups.
    known: moka::sync::Cache<String, Thread>,
    keywords: Keywords,
}

/// What one transaction's webhooks did besides their rows: conversations
/// to move (messages, latest time) and threads to remember after commit.
#[derive(Default)]
pub struct Work {
    learned: Vec<(String, Thread)>,
    touched: std::collections::BTreeMap<String, (i32, DateTime<Utc>)>,
}

/// A sender's contact and conversation on a number.
#[derive(Debug, Clone)]
pub struct Thread {
    contact_id: String,
    contact_name: String,
    conversation_id: String,
}

/// `column` set to `at` unless it already holds a later time.
fn later(column: conversation::Column, at: DateTime<Utc>) -> Expr {
    Expr::case(
        Condition::any()
            .add(Expr::col(column).is_null())
            .add(Expr::col(column).lt(at)),
        Expr::value(at),
    )
    .finally(Expr::col(column))
    .into()
}

/// A stored webhook's body as Meta's payload (a WhatsApp Business Account's).
/// `Err` says why it is malformed.
fn parse(body: &[u8]) -> Result<Payload, String> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if payload.object != "whatsapp_business_account" {
        return Err(format!("object is {:?}", payload.object));
    }
    Ok(payload)
}

/// The number a change came to (Meta's phone_number_id); empty for
/// template, quality and account updates, which name only the WABA.
fn number_of(change: &payload::Change) -> &str {
    change.value["metadata"]["phone_number_id"]
        .as_str()
        .unwrap_or_default()
}

/// The new number of a `system` message saying the user changed theirs.
fn changed_number(message: &Value) -> Option<&str> {
    let system = &message["system"];
    matches!(
        system["type"].as_str(),
        Some("user_changed_number" | "customer_changed_number")
    )
    .then(|| system["wa_id"].as_str())
    .flatten()
    .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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
    /// Applies webhooks to `db`, routing with `routes`, staging events in
    /// `outbox`, opting out on each tenant's `keywords`.
    pub fn new(db: DatabaseConnection, routes: Routes, outbox: Outbox, keywords: Keywords) -> Self {
        Self {
            keywords,
            db,
            routes,
            outbox,
            known: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(std::time::Duration::from_secs(600))
                .build(),
        }
    }

    /// Looks up, before any transaction begins, what applying `payloads`
    /// will ask of others: each number's or WABA's route (a call to
    /// tenancy) and each routed tenant's opt-out keywords. A write
    /// transaction must not wait on another service or pool: on SQLite it
    /// holds the one write lock, and tenancy's own writers, queued behind it
    /// on every connection of its pool, left the route lookup no connection
    /// until their busy timeouts gave up (a CI run, 2026-12-05). Failures
    /// here are left to the transaction, which meets them again and reports
    /// them; a cache entry that expires in between costs only the wait.
    async fn prepare(&self, payloads: &[&Payload]) {
        for payload in payloads {
            for entry in &payload.entry {
                for change in &entry.changes {
                    let number = number_of(change);
                    if number.is_empty() {
                        let _ = self.routes.tenant_of_waba(&entry.id).await;
                        continue;
                    }
                    if let Ok(Some(tenant)) = self.routes.tenant_of(number).await
                        && change.field == "messages"
                    {
                        let _ = self.keywords.of(tenant).await;
                    }
                }
            }
        }
    }

    /// Applies webhook `webhook_id`'s `payload` in the caller's transaction.
    async fn apply_in(
        &self,
        txn: &DatabaseTransaction,
        webhook_id: &str,
        payload: &Payload,
        work: &mut Work,
    ) -> Result<Summary, IngestError> {
        let mut summary = Summary::default();
        let changes: Vec<(&str, &payload::Change)> = payload
            .entry
            .iter()
            .flat_map(|e| {
                e.changes
                    .iter()
                    .map(|c| (e.id.as_str(), c))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (waba_id, change) in changes {
            let number = number_of(change);
            if number.is_empty() {
                let Some(tenant) = self
                    .routes
                    .tenant_of_waba(waba_id)
                    .await
                    .map_err(IngestError::Routing)?
                else {
                    unrouted(txn, webhook_id, &format!("waba:{waba_id}"), change).await?;
                    summary.unrouted += 1;
                    continue;
                };
                if !self.account_update(txn, tenant, waba_id, change).await? {
                    summary.duplicates += 1;
                }
                continue;
            }
            let Some(tenant) = self
                .routes
                .tenant_of(number)
                .await
                .map_err(IngestError::Routing)?
            else {
                unrouted(txn, webhook_id, number, change).await?;
                summary.unrouted += 1;
                continue;
            };
            match change.field.as_str() {
                "messages" => {
                    let value: MessagesValue = serde_json::from_value(change.value.clone())
                        .map_err(|e| IngestError::Malformed(e.to_string()))?;
                    self.messages(txn, tenant, &value, &mut summary, work)
                        .await?;
                }
                "user_preferences" => self.preferences(txn, tenant, &change.value).await?,
                _ => {}
            }
        }
        Ok(summary)
    }

    /// Applies webhook `webhook_id`'s `body` and marks it processed, in one
    /// transaction: nothing half-applied is marked done.
    pub async fn apply(&self, webhook_id: &str, body: &[u8]) -> Result<Summary, IngestError> {
        let payload = parse(body).map_err(IngestError::Malformed)?;
        self.prepare(&[&payload]).await;
        let txn = aerostic_kit::db::begin_write(&self.db).await?;
        let mut work = Work::default();
        let summary = self.apply_in(&txn, webhook_id, &payload, &mut work).await?;
        crate::inbox::mark_processed(&txn, webhook_id, &summary.outcome()).await?;
        self.finish(txn, work).await?;
        Ok(summary)
    }

    /// Applies several stored webhooks in one transaction (one commit for
    /// all); a malformed one is marked so and the rest go on. Any other
    /// failure rolls all of them back: the caller then applies them one by
    /// one.
    pub async fn apply_batch(&self, webhooks: &[(String, Vec<u8>)]) -> Result<(), IngestError> {
        let parsed: Vec<Result<Payload, String>> =
            webhooks.iter().map(|(_, body)| parse(body)).collect();
        let payloads: Vec<&Payload> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
        self.prepare(&payloads).await;
        let txn = aerostic_kit::db::begin_write(&self.db).await?;
        let mut work = Work::default();
        for ((id, _), payload) in webhooks.iter().zip(&parsed) {
            let outcome = match payload {
                Ok(payload) => match self.apply_in(&txn, id, payload, &mut work).await {
                    Ok(summary) => summary.outcome(),
                    Err(IngestError::Malformed(why)) => format!("malformed: {why}"),
                    Err(e) => return Err(e),
                },
                Err(why) => format!("malformed: {why}"),
            };
            crate::inbox::mark_processed(&txn, id, &outcome).await?;
        }
        self.finish(txn, work).await
    }

    /// Moves the touched conversations (in id order, so concurrent batches
    /// lock them in one order and cannot deadlock), commits, then remembers
    /// what is now committed.
    async fn finish(&self, txn: DatabaseTransaction, work: Work) -> Result<(), IngestError> {
        for (id, (count, sent_at)) in &work.touched {
            conversation::Entity::update_many()
                .col_expr(conversation::Column::Status, Expr::value("open"))
                .col_expr(
                    conversation::Column::UnreadCount,
                    Expr::col(conversation::Column::UnreadCount).add(*count),
                )
                // Meta's time of the message, never moving back: workers may
                // apply a conversation's webhooks out of order, so the row
                // decides, not what this worker read.
                .col_expr(
                    conversation::Column::LastInboundAt,
                    later(conversation::Column::LastInboundAt, *sent_at),
                )
                .col_expr(
                    conversation::Column::LastMessageAt,
                    later(conversation::Column::LastMessageAt, *sent_at),
                )
                .filter(conversation::Column::Id.eq(id.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        for (key, thread) in work.learned {
            self.known.insert(key, thread);
        }
        self.outbox.wake();
        Ok(())
    }

    /// Stores a template, quality or account update once; raises
    /// `template.status` for templates. False when it was already stored.
    async fn account_update(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        waba_id: &str,
        change: &payload::Change,
    ) -> Result<bool, DbErr> {
        use sha2::Digest;
        let value = &change.value;
        let digest = hex::encode(sha2::Sha256::digest(
            format!("{waba_id}|{}|{value}", change.field).as_bytes(),
        ));
        let event = value["event"].as_str().unwrap_or_default();
        let stored = account_event::Entity::insert(account_event::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.to_string()),
            waba_id: Set(waba_id.chars().take(64).collect()),
            field: Set(change.field.chars().take(64).collect()),
            event: Set(event.chars().take(64).collect()),
            payload: Set(value.to_string()),
            digest: Set(digest),
            created_at: Set(Utc::now()),
        })
        .on_conflict_do_nothing_on([account_event::Column::Digest])
        .exec(txn)
        .await?;
        if !matches!(stored, TryInsertResult::Inserted(_)) {
            return Ok(false);
        }
        if change.field == "message_template_status_update" {
            let template_id = match &value["message_template_id"] {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            let status = TemplateStatus {
                tenant_id: tenant.to_string(),
                waba_id: waba_id.to_string(),
                template_id,
                name: value["message_template_name"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                language: value["message_template_language"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                event: event.to_string(),
                reason: value["reason"].as_str().unwrap_or_default().into(),
            };
            crate::templates::apply_status(txn, &status).await?;
            self.outbox
                .stage(txn, &Envelope::json(events::TEMPLATE_STATUS, &status))
                .await?;
        }
        Ok(true)
    }

    async fn messages(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        value: &MessagesValue,
        summary: &mut Summary,
        work: &mut Work,
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
            let now = Utc::now();
            let sent_at = payload::seconds(&raw["timestamp"]).unwrap_or(now);
            let sender = profile.wa_id.clone().or_else(|| profile.user_id.clone());
            let key = format!("{tenant}|{}|{number}", sender.unwrap_or_default());
            let name = &profile.profile.name;
            let thread = match self
                .known
                .get(&key)
                .filter(|t| name.is_empty() || *name == t.contact_name)
            {
                Some(thread) => thread,
                None => {
                    let contact = contact_for(txn, tenant, &profile).await?;
                    let conversation =
                        conversation_for(txn, tenant, &contact.id, number, sent_at).await?;
                    let thread = Thread {
                        contact_name: if name.is_empty() {
                            contact.profile_name
                        } else {
                            name.clone()
                        },
                        contact_id: contact.id,
                        conversation_id: conversation.id,
                    };
                    work.learned.push((key, thread.clone()));
                    thread
                }
            };
            let (contact_id, conversation_id) = (thread.contact_id, thread.conversation_id);
            let kind = raw["type"].as_str().unwrap_or("unsupported").to_string();
            let id = uuid::Uuid::now_v7().to_string();
            let inserted = message::Entity::insert(message::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(tenant.to_string()),
                conversation_id: Set(conversation_id.clone()),
                contact_id: Set(contact_id.clone()),
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
            .on_conflict(wamid_taken())
            .try_insert()
            .exec(txn)
            .await?;
            if !matches!(inserted, TryInsertResult::Inserted(_)) {
                summary.duplicates += 1;
                continue;
            }
            summary.messages += 1;
            work.touched
                .entry(conversation_id.clone())
                .and_modify(|(count, at)| {
                    *count += 1;
                    *at = Ord::max(*at, sent_at);
                })
                .or_insert((1, sent_at));
            let text = text_of(raw);
            if kind == "text"
                && let Some(t) = &text
                && self.keywords.of(tenant).await?.matches(t)
            {
                self.opt_out(txn, tenant, &contact_id, "keyword").await?;
            }
            crate::media::stage(txn, &self.outbox, tenant, &id, number, raw).await?;
            if kind == "system"
                && let Some(new_number) = changed_number(raw)
            {
                crate::threads::move_number(txn, tenant, &contact_id, new_number).await?;
            }
            let event = MessageReceived {
                tenant_id: tenant.to_string(),
                message_id: id,
                conversation_id,
                contact_id,
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

async fn unrouted(
    txn: &DatabaseTransaction,
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
    .exec(txn)
    .await
    .map(|_| ())
}

/// Meta's retries and duplicates store nothing twice. The wamid's unique
/// index is partial (outbound rows have none until Meta answers), so the
/// conflict target names its predicate, as PostgreSQL and SQLite require.
fn wamid_taken() -> sea_orm::sea_query::OnConflict {
    use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
    OnConflict::column(message::Column::Wamid)
        .target_and_where(Expr::col(message::Column::Wamid).is_not_null())
        .do_nothing()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_found_in_every_kind() {
        let button = serde_json::json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}});
        assert_eq!(text_of(&button).as_deref(), Some("Yes"));
        let image = serde_json::json!({"type": "image", "image": {"id": "1", "caption": "look"}});
        assert_eq!(text_of(&image).as_deref(), Some("look"));
        let reaction =
            serde_json::json!({"type": "reaction", "reaction": {"message_id": "w", "emoji": ""}});
        assert_eq!(text_of(&reaction), None);
    }
}
