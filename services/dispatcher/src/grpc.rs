//! The gRPC face of the dispatcher: identities unsealed, requests turned
//! into domain calls, rows into messages.

use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::dispatcher_server::Dispatcher;
use tonic::{Request, Response, Status};

use crate::entity::{contact, message};
use crate::reads::{ConversationFilter, ConversationRow, Page, Reads};

/// The gRPC server of dispatcher.
pub struct DispatcherGrpc {
    /// The inbox's reads.
    pub reads: Reads,
    /// Unseals callers' identities.
    pub seal: IdentitySeal,
    /// Stores Meta's webhooks.
    pub intake: crate::inbox::Intake,
    /// Each tenant's stop words.
    pub keywords: crate::keywords::Keywords,
    /// Where customers' media is kept.
    pub media: std::sync::Arc<dyn crate::objects::ObjectStore>,
    /// The database (media rows).
    pub db: sea_orm::DatabaseConnection,
    /// The send path.
    pub submit: crate::submit::Submit,
    /// Templates, ours and Meta's.
    pub templates: crate::templates::Templates,
    /// Read receipts sent to Meta.
    pub read_marks: crate::read_marks::ReadMarks,
    /// The dispatcher's outbox (replays and discards).
    pub outbox: aerostic_kit::outbox::Outbox,
}

fn keywords_pb(words: crate::keywords::Words) -> pb::OptOutKeywords {
    pb::OptOutKeywords {
        by_language: words
            .by_language
            .into_iter()
            .map(|(l, keywords)| (l, pb::KeywordList { keywords }))
            .collect(),
        defaults: words.defaults,
    }
}

impl DispatcherGrpc {
    fn caller<T>(&self, request: &Request<T>) -> Result<Identity, Status> {
        Ok(self.seal.caller(request)?)
    }

    /// A send's answer: a fresh send with what it recorded, a replay with
    /// where the first one's message stands now.
    async fn sent_pb(
        &self,
        caller: &Identity,
        outcome: crate::submit::SendOutcome,
    ) -> Result<pb::SendMessageResponse, aerostic_kit::ApiError> {
        let (receipt, recorded) = outcome?;
        let replayed = recorded.is_none();
        let message = match recorded {
            Some(m) => message_pb((m, None)),
            None => self
                .reads
                .message_of(caller.tenant_id, &receipt.message_id)
                .await
                .map(message_pb)?,
        };
        Ok(pb::SendMessageResponse {
            message: Some(message),
            reserved: Some(pb::Money {
                currency: receipt.currency,
                amount_minor: receipt.reserved_minor,
            }),
            replayed,
        })
    }
}

/// A send as the domain takes it; its content must be JSON.
fn send_request(
    r: pb::SendMessageRequest,
) -> Result<crate::submit::SendRequest, aerostic_kit::ApiError> {
    let content = if r.content_json.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(&r.content_json).map_err(|e| {
            aerostic_kit::ApiError::invalid_field("content", format!("not JSON: {e}"))
        })?
    };
    Ok(crate::submit::SendRequest {
        from: r.from_phone_number_id,
        to: r.to,
        conversation_id: r.conversation_id,
        kind: r.r#type,
        content,
        reply_to: r.reply_to,
    })
}

fn page(p: Option<pb::PageRequest>) -> Result<Page, Status> {
    let p = p.unwrap_or_default();
    Ok(Page::new(p.page_size, p.cursor)?)
}

fn ts(at: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(aerostic_proto::timestamp(at))
}

fn conversation_pb((c, who): ConversationRow) -> pb::Conversation {
    // Meta's customer-service window: 24 hours from the last inbound message.
    let window = c
        .last_inbound_at
        .map(|at| at + chrono::Duration::hours(24))
        .filter(|end| *end > chrono::Utc::now());
    pb::Conversation {
        id: c.id,
        contact_id: c.contact_id,
        phone_number_id: c.phone_number_id,
        assigned_user_id: c.assignee_id.unwrap_or_default(),
        window_expires_at: window.and_then(ts),
        last_message_at: ts(c.last_message_at),
        unread: c.unread_count.max(0) as u32,
        status: c.status,
        contact_name: who.map(|w| w.profile_name).unwrap_or_default(),
        last_inbound_at: c.last_inbound_at.and_then(ts),
    }
}

fn message_pb((m, media_id): (message::Model, Option<String>)) -> pb::Message {
    let status = match m.status.as_str() {
        "queued" => pb::MessageStatus::Queued,
        "sent" => pb::MessageStatus::Sent,
        "delivered" => pb::MessageStatus::Delivered,
        "read" | "played" => pb::MessageStatus::Read,
        "failed" => pb::MessageStatus::Failed,
        "received" => pb::MessageStatus::Received,
        _ => pb::MessageStatus::Unspecified,
    };
    let direction = if m.direction == "inbound" {
        pb::MessageDirection::Inbound
    } else {
        pb::MessageDirection::Outbound
    };
    pb::Message {
        id: m.id,
        conversation_id: m.conversation_id,
        direction: direction as i32,
        status: status as i32,
        wamid: m.wamid.unwrap_or_default(),
        r#type: m.kind,
        content_json: m.content,
        error_code: m.error_code.map(|c| c.to_string()).unwrap_or_default(),
        error_message: m.error_title,
        created_at: ts(m.created_at),
        updated_at: ts(m.status_at),
        context_wamid: m.context_wamid.unwrap_or_default(),
        media_id: media_id.unwrap_or_default(),
    }
}

fn template_pb(t: crate::entity::template::Model) -> pb::Template {
    let status = match t.status.as_str() {
        "PENDING" => pb::TemplateStatus::Pending,
        "APPROVED" => pb::TemplateStatus::Approved,
        "REJECTED" => pb::TemplateStatus::Rejected,
        "PAUSED" => pb::TemplateStatus::Paused,
        "DISABLED" => pb::TemplateStatus::Disabled,
        _ => pb::TemplateStatus::Unspecified,
    };
    pb::Template {
        id: t.id,
        waba_id: t.waba_id,
        name: t.name,
        language: t.language,
        category: t.category,
        status: status as i32,
        components_json: t.components,
        rejected_reason: t.rejected_reason,
    }
}

fn contact_pb(c: contact::Model) -> pb::Contact {
    pb::Contact {
        phone: c
            .wa_id
            .as_ref()
            .map(|w| format!("+{w}"))
            .unwrap_or_default(),
        wa_id: c.wa_id.unwrap_or_default(),
        id: c.id,
        name: c.profile_name,
        marketing_opt_out: c.opted_out,
        attributes: Default::default(),
        created_at: ts(c.created_at),
        bsuid: c.bsuid.unwrap_or_default(),
        opt_out_source: c.opt_out_source,
    }
}

aerostic_kit::service_impl! {
    impl Dispatcher for DispatcherGrpc {
        async fn ingest_webhook(&self, request: Request<pb::IngestWebhookRequest>) -> Result<Response<pb::IngestWebhookResponse>, Status> {
            let r = request.into_inner();
            if r.body.is_empty() {
                return Err(aerostic_kit::ApiError::invalid_field("body", "is empty").into());
            }
            let received_at = r
                .received_at
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
                .unwrap_or_else(chrono::Utc::now);
            let id = self
                .intake
                .store(r.body, received_at)
                .await
                .map_err(|e| Status::unavailable(format!("the webhook could not be stored: {e}")))?;
            Ok(Response::new(pb::IngestWebhookResponse { webhook_id: id, ..Default::default() }))
        }

        async fn list_conversations(&self, request: Request<pb::ListConversationsRequest>) -> Result<Response<pb::ListConversationsResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let filter = ConversationFilter { status: r.status, assignee: r.assigned_user_id, unread_only: r.unread_only };
            let (rows, next) = self.reads.conversations(&caller, &filter, &page(r.page)?).await?;
            Ok(Response::new(pb::ListConversationsResponse {
                conversations: rows.into_iter().map(conversation_pb).collect(),
                page: Some(pb::PageResponse { next_cursor: next }),
            }))
        }

        async fn get_conversation(&self, request: Request<pb::GetConversationRequest>) -> Result<Response<pb::Conversation>, Status> {
            let caller = self.caller(&request)?;
            let row = self.reads.conversation(&caller, &request.into_inner().conversation_id).await?;
            Ok(Response::new(conversation_pb(row)))
        }

        async fn list_messages(&self, request: Request<pb::ListMessagesRequest>) -> Result<Response<pb::ListMessagesResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (rows, next) = self.reads.messages(&caller, &r.conversation_id, &page(r.page)?).await?;
            Ok(Response::new(pb::ListMessagesResponse {
                messages: rows.into_iter().map(message_pb).collect(),
                page: Some(pb::PageResponse { next_cursor: next }),
            }))
        }

        async fn list_contacts(&self, request: Request<pb::ListContactsRequest>) -> Result<Response<pb::ListContactsResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (rows, next) = self.reads.contacts(&caller, &r.query, &page(r.page)?).await?;
            Ok(Response::new(pb::ListContactsResponse {
                contacts: rows.into_iter().map(contact_pb).collect(),
                page: Some(pb::PageResponse { next_cursor: next }),
            }))
        }

        async fn get_media(&self, request: Request<pb::GetMediaRequest>) -> Result<Response<pb::MediaFile>, Status> {
            let caller = self.caller(&request)?;
            let (row, data) = crate::media::read(&self.db, self.media.as_ref(), &caller, &request.into_inner().media_id).await?;
            Ok(Response::new(pb::MediaFile { id: row.id, mime_type: row.mime_type, filename: row.filename, sha256: row.sha256, data }))
        }

        async fn upload_media(&self, request: Request<pb::UploadMediaRequest>) -> Result<Response<pb::MediaFile>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let row = crate::uploads::keep(&self.db, self.media.as_ref(), &caller, &r.mime_type, &r.filename, &r.data).await?;
            Ok(Response::new(pb::MediaFile { id: row.id, mime_type: row.mime_type, filename: row.filename, sha256: row.sha256, data: Vec::new() }))
        }

        async fn get_opt_out_keywords(&self, request: Request<pb::GetOptOutKeywordsRequest>) -> Result<Response<pb::OptOutKeywords>, Status> {
            let caller = self.caller(&request)?;
            Ok(Response::new(keywords_pb(self.keywords.get(&caller).await?)))
        }

        async fn set_opt_out_keywords(&self, request: Request<pb::OptOutKeywords>) -> Result<Response<pb::OptOutKeywords>, Status> {
            let caller = self.caller(&request)?;
            let raw = request.into_inner().by_language.into_iter().map(|(l, k)| (l, k.keywords)).collect();
            Ok(Response::new(keywords_pb(self.keywords.set(&caller, raw).await?)))
        }

        async fn send_message(&self, request: Request<pb::SendMessageRequest>) -> Result<Response<pb::SendMessageResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let key = r.idempotency_key.clone();
            let send = send_request(r)?;
            let outcome = self.submit.send(&caller, &send, &key).await;
            Ok(Response::new(self.sent_pb(&caller, outcome).await?))
        }

        async fn send_messages(&self, request: Request<pb::SendMessagesRequest>) -> Result<Response<pb::SendMessagesResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            // A message whose content is not JSON is refused alone.
            let items = r
                .messages
                .into_iter()
                .map(|m| {
                    let key = m.idempotency_key.clone();
                    send_request(m).map(|request| crate::batch_sends::BatchItem { request, key })
                })
                .collect();
            let outcomes = self.submit.send_many(&caller, items, &r.idempotency_key).await?;
            let results = futures::future::join_all(outcomes.into_iter().map(|outcome| {
                let caller = &caller;
                async move {
                    let outcome = match self.sent_pb(caller, outcome).await {
                        Ok(sent) => pb::send_result::Outcome::Sent(sent),
                        Err(e) => pb::send_result::Outcome::Refused(e.into()),
                    };
                    pb::SendResult { outcome: Some(outcome) }
                }
            }))
            .await;
            Ok(Response::new(pb::SendMessagesResponse { results }))
        }

        async fn list_dead_letters(&self, request: Request<pb::ListDeadLettersRequest>) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
            let caller = self.caller(&request)?;
            crate::reads::may_read(&caller, "messages:read")?;
            let rows = crate::dead_letters::list(&self.db, Some(caller.tenant_id), 500)
                .await
                .map_err(aerostic_kit::ApiError::internal)?;
            let mut dead_letters = Vec::with_capacity(rows.len());
            for row in rows {
                let message = self.reads.message_of(caller.tenant_id, &row.message_id).await.map(message_pb)?;
                dead_letters.push(pb::DeadLetter {
                    message: Some(message),
                    phone_number_id: row.phone_number_id,
                    attempts: row.attempts.max(0) as u32,
                    last_error_code: row.last_error_code.unwrap_or_default(),
                    last_error: row.last_error,
                    dead_since: ts(row.updated_at),
                });
            }
            Ok(Response::new(pb::ListDeadLettersResponse { dead_letters }))
        }

        async fn replay_dead_letter(&self, request: Request<pb::DeadLetterRequest>) -> Result<Response<pb::Message>, Status> {
            let caller = self.caller(&request)?;
            crate::reads::may_read(&caller, "messages:send")?;
            let id = request.into_inner().message_id;
            crate::dead_letters::replay(&self.db, &self.outbox, Some(caller.tenant_id), &id).await?;
            Ok(Response::new(self.reads.message_of(caller.tenant_id, &id).await.map(message_pb)?))
        }

        async fn discard_dead_letter(&self, request: Request<pb::DeadLetterRequest>) -> Result<Response<pb::Message>, Status> {
            let caller = self.caller(&request)?;
            crate::reads::may_read(&caller, "messages:send")?;
            let id = request.into_inner().message_id;
            crate::dead_letters::discard(&self.db, &self.outbox, Some(caller.tenant_id), &id).await?;
            Ok(Response::new(self.reads.message_of(caller.tenant_id, &id).await.map(message_pb)?))
        }

        async fn mark_read(&self, request: Request<pb::MarkReadRequest>) -> Result<Response<pb::Message>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let marked = self.read_marks.mark(&caller, &r.message_id, r.typing_indicator).await?;
            Ok(Response::new(message_pb(marked)))
        }

        async fn get_message(&self, request: Request<pb::GetMessageRequest>) -> Result<Response<pb::Message>, Status> {
            let caller = self.caller(&request)?;
            let found = self.reads.message(&caller, &request.into_inner().message_id).await?;
            Ok(Response::new(message_pb(found)))
        }

        async fn create_template(&self, request: Request<pb::CreateTemplateRequest>) -> Result<Response<pb::Template>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let components = serde_json::from_str(&r.components_json)
                .map_err(|e| aerostic_kit::ApiError::invalid_field("components", format!("not JSON: {e}")))?;
            let new = crate::templates::NewTemplate { name: r.name, language: r.language, category: r.category.to_uppercase(), components };
            let made = self.templates.create(&caller, &r.waba_id, new).await?;
            Ok(Response::new(template_pb(made)))
        }

        async fn list_templates(&self, request: Request<pb::ListTemplatesRequest>) -> Result<Response<pb::ListTemplatesResponse>, Status> {
            let caller = self.caller(&request)?;
            let rows = self.templates.list(&caller, &request.into_inner().waba_id).await?;
            Ok(Response::new(pb::ListTemplatesResponse {
                templates: rows.into_iter().map(template_pb).collect(),
                page: Some(pb::PageResponse { next_cursor: String::new() }),
            }))
        }

        async fn delete_template(&self, request: Request<pb::DeleteTemplateRequest>) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            self.templates.delete(&caller, &r.waba_id, &r.name).await?;
            Ok(Response::new(pb::DeleteTemplateResponse {}))
        }

        async fn sync_templates(&self, request: Request<pb::SyncTemplatesRequest>) -> Result<Response<pb::SyncTemplatesResponse>, Status> {
            let caller = self.caller(&request)?;
            let synced = self.templates.sync(&caller, &request.into_inner().waba_id).await?;
            Ok(Response::new(pb::SyncTemplatesResponse { synced }))
        }

        async fn get_contact(&self, request: Request<pb::GetContactRequest>) -> Result<Response<pb::Contact>, Status> {
            let caller = self.caller(&request)?;
            let found = self.reads.contact(&caller, &request.into_inner().contact_id).await?;
            Ok(Response::new(contact_pb(found)))
        }
    }
    unimplemented {
        assign_conversation(pb::AssignConversationRequest) -> pb::Conversation;
        upsert_contact(pb::UpsertContactRequest) -> pb::Contact;
        analytics_overview(pb::AnalyticsOverviewRequest) -> pb::AnalyticsOverviewResponse;
    }
}
