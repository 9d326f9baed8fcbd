//! One attempt at sending a queued message to Meta, and what it leaves:
//! accepted (the wamid recorded, statuses that came first applied), again
//! later (retryable errors, with backoff and jitter), failed with Meta's
//! reason, held until the number is reconnected, or dead-lettered after the
//! last attempt. A message is never dropped: each ends in one of these. A
//! failure raises `message.status` `failed` so that billing releases it; a
//! dead letter keeps its price held until it is replayed or discarded
//! ([`crate::dead_letters`]).
//!
//! The claim is a conditional update (`queued` and due → `sending`) that
//! returns the row, so a redelivered hand-off or a second worker cannot send
//! it twice, and the worker reads the row only in the same statement. A worker
//! killed between Meta's answer and the commit leaves it `sending`; putting
//! such messages back in the queue (the send workers' sweep, after
//! `send_worker::STUCK`) is the one path that can send a message twice
//! (ARCHITECTURE.md).

use aerostic_kit::broker::Envelope;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::ids::TenantId;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::signals::{Signal, SignalKeys, SignalKind, Signals};
use aerostic_proto::v1::tenancy_client::TenancyClient;
use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;

use std::sync::Arc;

use crate::entity::{media, message, send};
use crate::events::{self, MessageStatusChanged, NumberRestricted};
use crate::graph::{Accepted, Graph, GraphError};
use crate::meta_errors::{self, Reaction};
use crate::numbers::{Number, Numbers};
use crate::objects::ObjectStore;
use crate::send_rows::{Acceptance, SendRows};

/// Attempts before a message is dead-lettered.
pub const MAX_ATTEMPTS: i32 = 8;

/// What an attempt left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Meta accepted it.
    Accepted {
        /// Meta's id.
        wamid: String,
    },
    /// A retryable error: queued again for `at`.
    Again {
        /// When it is due.
        at: DateTime<Utc>,
    },
    /// Meta refused it for good.
    Failed {
        /// Meta's code, when Meta answered.
        code: Option<i64>,
    },
    /// The number needs reconnecting; the message waits (the sweep
    /// queues it again once the number's token works).
    Held,
    /// Out of attempts: kept for replay.
    DeadLettered,
    /// Not queued or not due (another worker has it, or it is done).
    NotMine,
}

/// Sends queued messages.
#[derive(Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    outbox: Outbox,
    graph: Graph,
    numbers: Numbers,
    media: Option<Arc<dyn ObjectStore>>,
    uploads: moka::future::Cache<String, String>,
    /// Batched claims and acceptances (PostgreSQL).
    rows: Option<SendRows>,
    /// Where sends and refusals are recorded for the anomaly detector.
    signals: Signals,
    keys: Option<SignalKeys>,
}

impl Deliverer {
    /// Sends from `db` through `graph`, with tokens from `tenancy`.
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        graph: Graph,
        tenancy: TenancyClient<TracedChannel>,
    ) -> Self {
        Self {
            rows: SendRows::postgres(&db),
            signals: Signals::off(),
            keys: None,
            db,
            outbox,
            numbers: Numbers::new(tenancy, graph.clone()),
            graph,
            media: None,
            uploads: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    /// Sends our media from `store` (uploaded to Meta when a send names it).
    pub fn with_media(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.media = Some(store);
        self
    }

    /// Records each send Meta took or refused for good into `signals`,
    /// recipients hashed with `keys`.
    pub fn with_signals(mut self, signals: Signals, keys: SignalKeys) -> Self {
        self.signals = signals;
        self.keys = Some(keys);
        self
    }

    /// The numbers it sends from (credentials and throughput, cached).
    pub fn numbers(&self) -> &Numbers {
        &self.numbers
    }

    /// One attempt at message `message_id`: claimed (one conditional
    /// update that also reads the row) only if it is still queued and due.
    pub async fn attempt(&self, message_id: &str) -> Result<Outcome, DbErr> {
        if let Some(rows) = &self.rows {
            return match rows.claim(message_id).await? {
                Some(row) => self.send_claimed(row).await,
                None => Ok(Outcome::NotMine),
            };
        }
        let now = Utc::now();
        let claimed = send::Entity::update_many()
            .col_expr(send::Column::State, Expr::value("sending"))
            .col_expr(
                send::Column::Attempts,
                Expr::col(send::Column::Attempts).add(1),
            )
            .col_expr(send::Column::UpdatedAt, Expr::value(now))
            .filter(send::Column::MessageId.eq(message_id))
            .filter(send::Column::State.eq("queued"))
            .filter(send::Column::NextAttemptAt.lte(now))
            .exec_with_returning(&self.db)
            .await?;
        match claimed.into_iter().next() {
            Some(row) => self.send_claimed(row).await,
            None => Ok(Outcome::NotMine),
        }
    }

    /// The attempt at the message `row` claimed.
    async fn send_claimed(&self, row: send::Model) -> Result<Outcome, DbErr> {
        let result = self.send_once(&row).await;
        let outcome = match result {
            Ok(accepted) => self.accepted(&row, &accepted.wamid).await,
            Err(e) => self.refused(&row, &e).await,
        }?;
        match outcome {
            Outcome::Accepted { .. } => self.signal(&row, true),
            Outcome::Failed { .. } | Outcome::DeadLettered => self.signal(&row, false),
            _ => {}
        }
        Ok(outcome)
    }

    /// Records a send (or a refusal for good) for the anomaly detector.
    fn signal(&self, row: &send::Model, ok: bool) {
        #[derive(serde::Deserialize)]
        struct Addressed {
            #[serde(default)]
            to: String,
            #[serde(default, rename = "type")]
            kind: String,
        }
        let Some(keys) = &self.keys else { return };
        let Ok(sent) = serde_json::from_str::<Addressed>(&row.body) else {
            return;
        };
        self.signals.record(
            Signal::now(SignalKind::Send {
                recipient: keys.recipient(&sent.to),
                template: sent.kind == "template",
                new_recipient: row.new_recipient,
                ok,
            })
            .tenant(&row.tenant_id),
        );
    }

    /// Meta's answer to `row`'s message, our media uploaded first if it
    /// names some.
    async fn send_once(&self, row: &send::Model) -> Result<Accepted, GraphError> {
        let number = self.numbers.get(&row.phone_number_id).await?;
        let mut body: Value = serde_json::from_str(&row.body)
            .map_err(|e| GraphError::Transport(format!("a send's body is not JSON: {e}")))?;
        if let Some(media_id) = &row.media_id {
            let meta_id = self.meta_media(row, media_id, &number).await?;
            let kind = body["type"].as_str().unwrap_or_default().to_string();
            body[kind]["id"] = Value::String(meta_id);
        }
        self.graph
            .send(&number.credentials, &row.phone_number_id, &body)
            .await
    }

    /// Meta's id for our media `media_id` on the row's number: uploaded
    /// once and reused for a day (Meta keeps uploads for 30).
    async fn meta_media(
        &self,
        row: &send::Model,
        media_id: &str,
        number: &Number,
    ) -> Result<String, GraphError> {
        let key = format!("{media_id}|{}", row.phone_number_id);
        if let Some(hit) = self.uploads.get(&key).await {
            return Ok(hit);
        }
        // Gone since it was checked at the API: nothing to send, for good.
        let gone = || GraphError::Meta {
            status: 400,
            code: 131053,
            message: "our copy of the media is gone".into(),
            details: String::new(),
            trace: String::new(),
        };
        let store = self.media.as_ref().ok_or_else(gone)?;
        let kept = media::Entity::find_by_id(media_id.to_string())
            .filter(media::Column::TenantId.eq(&row.tenant_id))
            .filter(media::Column::Status.eq("stored"))
            .one(&self.db)
            .await
            .map_err(|e| GraphError::Transport(e.to_string()))?
            .ok_or_else(gone)?;
        let bytes = store
            .get(&kept.storage_key)
            .await
            .map_err(|e| GraphError::Transport(format!("our media store: {e}")))?;
        let id = self
            .graph
            .upload_media(
                &number.credentials,
                &row.phone_number_id,
                &kept.mime_type,
                &kept.filename,
                bytes,
            )
            .await?;
        self.uploads.insert(key, id.clone()).await;
        Ok(id)
    }

    async fn accepted(&self, row: &send::Model, wamid: &str) -> Result<Outcome, DbErr> {
        let tenant: TenantId = row
            .tenant_id
            .parse()
            .map_err(|_| DbErr::Custom("a send's tenant is not a UUID".into()))?;
        if let Some(rows) = &self.rows {
            let accepted = Acceptance {
                message_id: row.message_id.clone(),
                tenant_id: row.tenant_id.clone(),
                wamid: wamid.to_string(),
            };
            if rows.accept(accepted).await? {
                // A status Meta posted before the wamid was recorded.
                let txn = aerostic_kit::db::begin_write(&self.db).await?;
                crate::statuses::apply_pending(&txn, &self.outbox, tenant, wamid).await?;
                txn.commit().await?;
            }
            return Ok(Outcome::Accepted {
                wamid: wamid.to_string(),
            });
        }
        let txn = aerostic_kit::db::begin_write(&self.db).await?;
        message::Entity::update_many()
            .col_expr(message::Column::Wamid, Expr::value(wamid))
            .filter(message::Column::Id.eq(&row.message_id))
            .exec(&txn)
            .await?;
        // The last error stays: "accepted after 131000" is worth knowing.
        send::Entity::update_many()
            .col_expr(send::Column::State, Expr::value("accepted"))
            .col_expr(send::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(send::Column::MessageId.eq(&row.message_id))
            .exec(&txn)
            .await?;
        // A status Meta posted before this commit waited for the wamid.
        crate::statuses::apply_pending(&txn, &self.outbox, tenant, wamid).await?;
        txn.commit().await?;
        Ok(Outcome::Accepted {
            wamid: wamid.to_string(),
        })
    }

    async fn refused(&self, row: &send::Model, error: &GraphError) -> Result<Outcome, DbErr> {
        let code = error.code();
        let detail = error.to_string();
        let reaction = error.reaction();
        let retryable = matches!(
            reaction,
            Reaction::Retry | Reaction::ThrottleNumber | Reaction::BackOffRecipient
        );
        if retryable && row.attempts < MAX_ATTEMPTS {
            let wait =
                meta_errors::backoff(reaction, row.attempts.saturating_sub(1).unsigned_abs());
            // Up to a quarter more, so that messages refused together do not
            // all come back together.
            let jitter = rand::rng().random_range(0..=wait.as_millis() as u64 / 4);
            let at = Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or_default()
                + chrono::Duration::milliseconds(jitter as i64);
            send::Entity::update_many()
                .col_expr(send::Column::State, Expr::value("queued"))
                .col_expr(send::Column::NextAttemptAt, Expr::value(at))
                .col_expr(send::Column::LastErrorCode, Expr::value(code))
                .col_expr(send::Column::LastError, Expr::value(clip(&detail)))
                .col_expr(send::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(send::Column::MessageId.eq(&row.message_id))
                .exec(&self.db)
                .await?;
            return Ok(Outcome::Again { at });
        }
        let restriction = match reaction {
            Reaction::Reauthenticate => Some("reconnect"),
            Reaction::PauseCampaigns => Some("pause_campaigns"),
            Reaction::StopTenant => Some("stop_sending"),
            _ => None,
        };
        let alert = restriction.map(|action| {
            Envelope::json(
                events::NUMBER_RESTRICTED,
                &NumberRestricted {
                    tenant_id: row.tenant_id.clone(),
                    phone_number_id: row.phone_number_id.clone(),
                    code: code.unwrap_or_default(),
                    action: action.into(),
                    reason: code.map(meta_errors::reason).unwrap_or_default().into(),
                },
            )
        });
        if reaction == Reaction::Reauthenticate {
            self.numbers.forget(&row.phone_number_id).await;
            let txn = aerostic_kit::db::begin_write(&self.db).await?;
            set_state(&txn, &row.message_id, "held", code, &detail).await?;
            if let Some(alert) = &alert {
                self.outbox.stage(&txn, alert).await?;
            }
            txn.commit().await?;
            return Ok(Outcome::Held);
        }
        let (state, outcome) = if retryable {
            ("dead", Outcome::DeadLettered)
        } else {
            ("failed", Outcome::Failed { code })
        };
        let reason = code
            .map(meta_errors::reason)
            .unwrap_or("Meta could not be reached");
        let reason = if retryable {
            format!(
                "dead-lettered after {} attempts (replay or discard it): {reason}",
                row.attempts
            )
        } else {
            reason.to_string()
        };
        let txn = aerostic_kit::db::begin_write(&self.db).await?;
        set_state(&txn, &row.message_id, state, code, &detail).await?;
        message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::value("failed"))
            .col_expr(
                message::Column::ErrorCode,
                Expr::value(code.map(|c| c as i32)),
            )
            .col_expr(message::Column::ErrorTitle, Expr::value(reason))
            .col_expr(message::Column::StatusAt, Expr::value(Utc::now()))
            .filter(message::Column::Id.eq(&row.message_id))
            .exec(&txn)
            .await?;
        if let Some(alert) = &alert {
            self.outbox.stage(&txn, alert).await?;
        }
        // A dead letter keeps its price held for a replay; only a final
        // failure (or a discarded dead letter) tells billing to release it.
        if !retryable {
            let event = MessageStatusChanged {
                tenant_id: row.tenant_id.clone(),
                message_id: row.message_id.clone(),
                wamid: String::new(),
                status: "failed".into(),
                pricing: None,
                error_code: code,
            };
            self.outbox
                .stage(&txn, &Envelope::json(events::MESSAGE_STATUS, &event))
                .await?;
        }
        txn.commit().await?;
        Ok(outcome)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(500).collect()
}

async fn set_state(
    db: &impl ConnectionTrait,
    message_id: &str,
    state: &str,
    code: Option<i64>,
    error: &str,
) -> Result<(), DbErr> {
    send::Entity::update_many()
        .col_expr(send::Column::State, Expr::value(state))
        .col_expr(send::Column::LastErrorCode, Expr::value(code))
        .col_expr(send::Column::LastError, Expr::value(clip(error)))
        .col_expr(send::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(send::Column::MessageId.eq(message_id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Queues again the held messages of numbers whose token works again (the
/// tenant reconnected them), and says so (`number.restored`); how many.
/// Each number is checked with Meta at most once per call, and only once
/// its messages have waited a minute.
pub async fn release_held(
    db: &DatabaseConnection,
    outbox: &Outbox,
    numbers: &Numbers,
) -> Result<u64, DbErr> {
    use sea_orm::QuerySelect;
    let now = Utc::now();
    let held: Vec<(String, String)> = send::Entity::find()
        .select_only()
        .column(send::Column::PhoneNumberId)
        .column(send::Column::TenantId)
        .distinct()
        .filter(send::Column::State.eq("held"))
        .filter(send::Column::UpdatedAt.lt(now - chrono::Duration::minutes(1)))
        .into_tuple()
        .all(db)
        .await?;
    let mut released = 0;
    for (number, tenant_id) in held {
        if numbers.check(&number).await.is_err() {
            // Still refused: check again next time, without re-checking every row.
            send::Entity::update_many()
                .col_expr(send::Column::UpdatedAt, Expr::value(now))
                .filter(send::Column::PhoneNumberId.eq(&number))
                .filter(send::Column::State.eq("held"))
                .exec(db)
                .await?;
            continue;
        }
        let txn = aerostic_kit::db::begin_write(db).await?;
        released += send::Entity::update_many()
            .col_expr(send::Column::State, Expr::value("queued"))
            .col_expr(send::Column::Attempts, Expr::value(0))
            // Overdue at once, so the sweep hands them off.
            .col_expr(
                send::Column::NextAttemptAt,
                Expr::value(now - chrono::Duration::hours(1)),
            )
            .col_expr(send::Column::UpdatedAt, Expr::value(now))
            .filter(send::Column::PhoneNumberId.eq(&number))
            .filter(send::Column::State.eq("held"))
            .exec(&txn)
            .await?
            .rows_affected;
        let restored = NumberRestricted {
            tenant_id,
            phone_number_id: number.clone(),
            code: 0,
            action: "restored".into(),
            reason: "its token works again; its held messages are queued".into(),
        };
        outbox
            .stage(&txn, &Envelope::json(events::NUMBER_RESTORED, &restored))
            .await?;
        txn.commit().await?;
        outbox.wake();
    }
    Ok(released)
}
