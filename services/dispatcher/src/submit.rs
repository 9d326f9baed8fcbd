//! A send request, from the API to the queue: checked against everything
//! Meta would refuse and every rule of ours (the number is the caller's,
//! the contact has not opted out, the 24-hour window, the template as we
//! synced it, the plan's daily limit and the wallet, both asked of billing
//! in one `Reserve`), then recorded (message row and send row, in one
//! statement on PostgreSQL: `crate::record`) and handed off to
//! `dispatch.send`. Nothing is queued or paid for unless all of it passes, and
//! a price reserved for a send that could not be recorded is released.

use std::sync::Arc;

use aerostic_kit::ApiError;
use aerostic_kit::broker::Broker;
use aerostic_kit::error::ErrorKind;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::ids::TenantId;
use aerostic_kit::phone::PhoneNumber;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_client::BillingClient;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compose::{MediaSource, Outgoing};
use crate::entity::{contact, conversation, message};
use crate::idempotency::{Claim, Idempotency};
use crate::routes::Routes;
use crate::templates::Templates;

/// Meta's customer-service window (§8).
pub const WINDOW: Duration = Duration::hours(24);

/// A send as callers ask for it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendRequest {
    /// Our number (Meta's phone_number_id); empty: the conversation's.
    pub from: String,
    /// The recipient, E.164; empty when `conversation_id` is given.
    pub to: String,
    /// Reply in this conversation.
    pub conversation_id: String,
    /// Meta's `type`.
    pub kind: String,
    /// Meta's object for `kind`.
    pub content: Value,
    /// The wamid this replies to.
    pub reply_to: String,
}

/// What a send was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Our message id.
    pub message_id: String,
    /// The price held, in minor units (zero when free).
    pub reserved_minor: i64,
    /// Its currency.
    pub currency: String,
}

/// What a send is answered: the receipt, and the message as recorded
/// (`None` when it repeats an earlier answer, whose message has moved on
/// since); or why it was refused.
pub type SendOutcome = Result<(Receipt, Option<message::Model>), ApiError>;

/// The send path's front: checks, rules and the queue.
#[derive(Clone)]
pub struct Submit {
    db: DatabaseConnection,
    /// The per-send lookups' connections (kit::db::quick).
    quick: aerostic_kit::db::QuickDb,
    contacts: crate::contact_reads::ContactReads,
    recorder: crate::record::Recorder,
    hand_offs: crate::send_worker::HandOffs,
    routes: Routes,
    templates: Templates,
    billing: BillingClient<TracedChannel>,
    reservations: crate::reservations::Reservations,
    seal: IdentitySeal,
    idempotency: Idempotency,
}

fn rule(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::FailedPrecondition, code, message)
}

/// Who a send goes to, on which number, in which thread.
struct Target {
    number: String,
    waba_id: String,
    wa_id: String,
    /// The recipient's number, parsed once (its country prices the send;
    /// none for a contact's wa_id our parse does not take, priced without).
    phone: Option<PhoneNumber>,
    contact: Option<contact::Model>,
    conversation: Option<conversation::Model>,
}

impl Target {
    fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.conversation
            .as_ref()
            .and_then(|c| c.last_inbound_at)
            .is_some_and(|at| at + WINDOW > now)
    }
}

impl Submit {
    /// The send path over `db`, prices from `billing`.
    pub fn new(
        db: DatabaseConnection,
        broker: Arc<dyn Broker>,
        routes: Routes,
        templates: Templates,
        billing: BillingClient<TracedChannel>,
        seal: IdentitySeal,
    ) -> Self {
        let quick = aerostic_kit::db::QuickDb::new(&db);
        Self {
            idempotency: Idempotency::new(db.clone()),
            contacts: crate::contact_reads::ContactReads::new(quick.clone()),
            recorder: crate::record::Recorder::new(quick.clone()),
            quick,
            hand_offs: crate::send_worker::HandOffs::new(broker),
            db,
            routes,
            templates,
            reservations: crate::reservations::Reservations::spawn(billing.clone(), seal.clone()),
            billing,
            seal,
        }
    }

    /// Sends `request` for `caller`, once per `key` when one is given: the
    /// receipt, and the message as recorded (`None` when this repeats an
    /// earlier answer, whose message has moved on since).
    pub async fn send(&self, caller: &Identity, request: &SendRequest, key: &str) -> SendOutcome {
        crate::reads::may_read(caller, "messages:send")?;
        if !key.is_empty() {
            crate::idempotency::parse_key(key)
                .map_err(|p| ApiError::invalid_field("idempotency_key", p))?;
        }
        self.send_keyed(caller, request, key).await
    }

    /// [`Submit::send`] once the caller may send and `key` (empty: none) is
    /// known to be well formed: a client's, or one a batch made.
    pub(crate) async fn send_keyed(
        &self,
        caller: &Identity,
        request: &SendRequest,
        key: &str,
    ) -> SendOutcome {
        if key.is_empty() {
            let (receipt, message) = self.run(caller, request).await?;
            return Ok((receipt, Some(message)));
        }
        let canonical = serde_json::to_vec(request).map_err(ApiError::internal)?;
        match self
            .idempotency
            .claim(caller.tenant_id, key, &canonical)
            .await
            .map_err(ApiError::internal)?
        {
            Claim::Replay(answer) => {
                let receipt = serde_json::from_str(&answer).map_err(ApiError::internal)?;
                return Ok((receipt, None));
            }
            Claim::Conflict => {
                return Err(rule(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request in the last 24 hours",
                ));
            }
            Claim::InFlight => {
                return Err(ApiError::new(
                    ErrorKind::AlreadyExists,
                    "idempotency_key_in_flight",
                    "a request with this Idempotency-Key is still running; retry shortly",
                ));
            }
            Claim::Fresh => {}
        }
        match self.run(caller, request).await {
            Ok((receipt, message)) => {
                let answer = serde_json::to_string(&receipt).map_err(ApiError::internal)?;
                self.idempotency
                    .complete(caller.tenant_id, key, &answer)
                    .await
                    .map_err(ApiError::internal)?;
                Ok((receipt, Some(message)))
            }
            Err(e) => {
                // A refused request may be corrected and sent again.
                let _ = self.idempotency.abandon(caller.tenant_id, key).await;
                Err(e)
            }
        }
    }

    /// The receipt and the message as recorded.
    async fn run(
        &self,
        caller: &Identity,
        request: &SendRequest,
    ) -> Result<(Receipt, message::Model), ApiError> {
        let outgoing = Outgoing::parse(&request.kind, &request.content).map_err(|problems| {
            ApiError::validation(problems.into_iter().map(|p| (p.field, p.problem)).collect())
        })?;
        let tenant = caller.tenant_id;
        let stage = Stage::start();
        let target = self.target(tenant, request).await?;
        let stage = stage.done("target");
        let now = Utc::now();
        let window_open = target.window_open(now);
        if outgoing.needs_open_window() && !window_open {
            return Err(rule(
                "window_closed",
                "the customer has not written in the last 24 hours; only a template can start the conversation",
            )
            .with_detail("type", outgoing.kind()));
        }
        let category = match &outgoing {
            Outgoing::Template {
                name,
                language,
                components,
            } => {
                let found = self
                    .templates
                    .find(tenant, &target.waba_id, name, language)
                    .await
                    .map_err(ApiError::internal)?
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::NotFound,
                            "template_not_found",
                            format!("no template {name} in {language} on this number's account; create or sync it first"),
                        )
                    })?;
                crate::templates::check_send(&found, components)?;
                found.category.to_lowercase()
            }
            _ => "service".to_string(),
        };
        if let Some(c) = target.contact.as_ref().filter(|c| c.opted_out) {
            // A STOP keyword stops everything we start; Meta's marketing
            // preference stops marketing. Answering inside the window the
            // customer opened stays allowed.
            let blocked = match c.opt_out_source.as_str() {
                "user_preferences" => category == "marketing",
                _ => category != "service",
            };
            if blocked {
                return Err(rule(
                    "contact_opted_out",
                    "the contact asked not to receive these messages",
                )
                .with_detail("opt_out_source", c.opt_out_source.clone()));
            }
        }
        let media_id = match &outgoing {
            Outgoing::Media {
                source: MediaSource::Ours(id),
                ..
            } => Some(self.our_media(tenant, id).await?),
            _ => None,
        };
        let message_id = uuid::Uuid::now_v7().to_string();
        let country = target
            .phone
            .as_ref()
            .and_then(PhoneNumber::country)
            .unwrap_or_default();
        let template_name = match &outgoing {
            Outgoing::Template { name, .. } => name.clone(),
            _ => String::new(),
        };
        let priced = pb::PricedMessage {
            category,
            country,
            template_name,
            window_open,
            free_entry_point: false,
        };
        let stage = stage.done("checks");
        let charge = self
            .reservations
            .reserve(caller, &message_id, priced)
            .await?;
        let stage = stage.done("reserve");
        let context = (!request.reply_to.is_empty()).then_some(request.reply_to.as_str());
        let body = outgoing.meta_body(&target.wa_id, context, None);
        let recorded = self
            .record(
                tenant,
                &message_id,
                &target,
                &outgoing,
                &body,
                &request.reply_to,
                media_id,
                now,
            )
            .await;
        stage.done("record");
        let message = match recorded {
            Ok(message) => message,
            Err(e) => {
                let mut release = tonic::Request::new(pb::ReleaseRequest {
                    message_id: message_id.clone(),
                    reason: "not_queued".into(),
                });
                self.seal.attach(&mut release, caller);
                let _ = self.billing.clone().release(release).await;
                return Err(ApiError::internal(e));
            }
        };
        let amount = charge.amount.unwrap_or_default();
        let receipt = Receipt {
            message_id,
            reserved_minor: if charge.state == "held" {
                amount.amount_minor
            } else {
                0
            },
            currency: amount.currency,
        };
        Ok((receipt, message))
    }

    /// Where the send goes: the conversation's number and contact, or
    /// `to` on `from`; the number must be the caller's.
    async fn target(&self, tenant: TenantId, r: &SendRequest) -> Result<Target, ApiError> {
        let mut conversation = None;
        let contact;
        let mut number = r.from.clone();
        let wa_id;
        let phone;
        if !r.conversation_id.is_empty() {
            let found = conversation::Entity::find_by_id(r.conversation_id.clone())
                .filter(conversation::Column::TenantId.eq(tenant.to_string()))
                .one(&self.quick)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| crate::reads::not_found("conversation"))?;
            let who = contact::Entity::find_by_id(found.contact_id.clone())
                .one(&self.quick)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("a conversation without its contact"))?;
            wa_id = who.wa_id.clone().ok_or_else(|| {
                rule(
                    "contact_without_phone",
                    "this contact has no phone number Meta can send to",
                )
            })?;
            phone = PhoneNumber::parse(&wa_id).ok();
            if !r.to.is_empty()
                && PhoneNumber::parse(&r.to).map(|p| p.digits().to_string()) != Ok(wa_id.clone())
            {
                return Err(ApiError::invalid_field(
                    "to",
                    "not the conversation's contact; leave it empty",
                ));
            }
            if number.is_empty() {
                number = found.phone_number_id.clone();
            }
            if number == found.phone_number_id {
                conversation = Some(found);
            }
            contact = Some(who);
        } else {
            let to = PhoneNumber::parse(&r.to)
                .map_err(|e| ApiError::invalid_field("to", e.to_string()))?;
            wa_id = to.digits().to_string();
            phone = Some(to);
            contact = self
                .contacts
                .find(tenant, &wa_id)
                .await
                .map_err(ApiError::internal)?;
        }
        if let (Some(who), None) = (&contact, &conversation) {
            let mut query = conversation::Entity::find()
                .filter(conversation::Column::TenantId.eq(tenant.to_string()))
                .filter(conversation::Column::ContactId.eq(who.id.clone()));
            if !number.is_empty() {
                query = query.filter(conversation::Column::PhoneNumberId.eq(number.clone()));
            }
            conversation = query
                .order_by_desc(conversation::Column::LastMessageAt)
                .one(&self.quick)
                .await
                .map_err(ApiError::internal)?;
            if number.is_empty() {
                number = conversation
                    .as_ref()
                    .map(|c| c.phone_number_id.clone())
                    .unwrap_or_default();
            }
        }
        if number.is_empty() {
            return Err(ApiError::invalid_field(
                "from_phone_number_id",
                "required: the contact has no conversation to answer in",
            ));
        }
        let route = self
            .routes
            .number(&number)
            .await
            .map_err(ApiError::from)?
            .filter(|route| route.tenant == tenant)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    "number_not_found",
                    "no connected number with that id in this workspace",
                )
                .with_detail("from_phone_number_id", number.clone())
            })?;
        if !route.active {
            return Err(aerostic_kit::identity::tenant_suspended());
        }
        Ok(Target {
            number,
            waba_id: route.waba_id,
            wa_id,
            phone,
            contact,
            conversation,
        })
    }

    /// Our media `id` of `tenant`, kept and ready to upload to Meta.
    async fn our_media(&self, tenant: TenantId, id: &str) -> Result<String, ApiError> {
        let kept = crate::media::owned(&self.db, tenant, id).await?;
        if kept.status != "stored" {
            return Err(rule(
                "media_not_ready",
                "the media is not kept yet (still being fetched, or it failed)",
            ));
        }
        Ok(kept.id)
    }

    /// The message and its send row (with a new contact and conversation
    /// if need be), then the hand-off to the send workers.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        tenant: TenantId,
        message_id: &str,
        target: &Target,
        outgoing: &Outgoing,
        body: &Value,
        reply_to: &str,
        media_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<message::Model, sea_orm::DbErr> {
        let new_id = || uuid::Uuid::now_v7().to_string();
        let contact_id = target
            .contact
            .as_ref()
            .map_or_else(new_id, |c| c.id.clone());
        let conversation_id = target
            .conversation
            .as_ref()
            .map_or_else(new_id, |c| c.id.clone());
        let content = body.to_string();
        let message = message::Model {
            id: message_id.to_string(),
            tenant_id: tenant.to_string(),
            conversation_id,
            contact_id,
            direction: "outbound".into(),
            kind: outgoing.kind().into(),
            // Meta's request, as inbound messages keep Meta's object.
            content: content.clone(),
            wamid: None,
            context_wamid: (!reply_to.is_empty()).then(|| reply_to.to_string()),
            status: "queued".into(),
            error_code: None,
            error_title: String::new(),
            sent_at: now,
            status_at: now,
            created_at: now,
        };
        let recorded = self
            .recorder
            .new_send(crate::record::NewSend {
                tenant,
                message,
                wa_id: target.wa_id.clone(),
                new_contact: target.contact.is_none(),
                new_conversation: target.conversation.is_none(),
                number: target.number.clone(),
                body: content,
                media_id,
                now,
            })
            .await?;
        // Handed off once the rows are committed, without holding up the answer.
        self.hand_offs.send(message_id, &target.number);
        Ok(recorded)
    }
}

/// Times the stages of a send (`aerostic_send_stage_seconds{stage}`), so the
/// API's latency can be split into lookups, checks, billing and recording.
struct Stage(std::time::Instant);

impl Stage {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Records the stage that just ended as `name`; the next one starts.
    fn done(self, name: &'static str) -> Self {
        metrics::histogram!("aerostic_send_stage_seconds", "stage" => name)
            .record(self.0.elapsed().as_secs_f64());
        Self::start()
    }
}
