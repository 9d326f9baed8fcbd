//! The dispatcher service of Aerostic: contacts, conversations, messages,
//! statuses, templates, opt-outs and the send outbox; `SendMessage` is the
//! only way anything reaches Meta.
//!
//! Inbound so far: [`inbox`] keeps every webhook before anything else and
//! hands it to a worker; [`ingest`] routes it to its tenant and stores its
//! messages and statuses once each, raising [`events`] through the outbox.
//! RPCs of later issues answer `UNIMPLEMENTED`.

#![warn(missing_docs)]

pub mod entity;
pub mod events;
pub mod inbox;
pub mod ingest;
pub mod payload;
pub mod routes;

use std::future::Future;
use std::time::Duration;

use aerostic_kit::broker::RetryPolicy;
use aerostic_kit::config::ServiceName;
use aerostic_kit::context::Context;
use aerostic_kit::outbox::Outbox;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::dispatcher_server::{Dispatcher, DispatcherServer};
use aerostic_proto::v1::tenancy_client::TenancyClient;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// The dispatcher's outbox table.
pub const OUTBOX_TABLE: &str = "dispatcher_outbox";

/// The gRPC server of dispatcher.
pub struct DispatcherGrpc {
    ctx: Context,
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
            let id = inbox::store(&self.ctx.db, self.ctx.broker.as_ref(), r.body, received_at)
                .await
                .map_err(|e| Status::unavailable(format!("the webhook could not be stored: {e}")))?;
            Ok(Response::new(pb::IngestWebhookResponse { webhook_id: id, ..Default::default() }))
        }
    }
    unimplemented {
        send_message(pb::SendMessageRequest) -> pb::SendMessageResponse;
        get_message(pb::GetMessageRequest) -> pb::Message;
        list_messages(pb::ListMessagesRequest) -> pb::ListMessagesResponse;
        list_conversations(pb::ListConversationsRequest) -> pb::ListConversationsResponse;
        get_conversation(pb::GetConversationRequest) -> pb::Conversation;
        assign_conversation(pb::AssignConversationRequest) -> pb::Conversation;
        list_contacts(pb::ListContactsRequest) -> pb::ListContactsResponse;
        get_contact(pb::GetContactRequest) -> pb::Contact;
        upsert_contact(pb::UpsertContactRequest) -> pb::Contact;
        create_template(pb::CreateTemplateRequest) -> pb::Template;
        list_templates(pb::ListTemplatesRequest) -> pb::ListTemplatesResponse;
        delete_template(pb::DeleteTemplateRequest) -> pb::DeleteTemplateResponse;
        sync_templates(pb::SyncTemplatesRequest) -> pb::SyncTemplatesResponse;
        analytics_overview(pb::AnalyticsOverviewRequest) -> pb::AnalyticsOverviewResponse;
    }
}

/// Serves dispatcher on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let tenancy = TenancyClient::new(aerostic_kit::grpc::channel(
        ctx.upstreams.url(ServiceName::Tenancy),
    )?);
    let outbox = Outbox::new(OUTBOX_TABLE);
    let relay =
        outbox
            .clone()
            .spawn_relay(ctx.db.clone(), ctx.broker.clone(), Duration::from_secs(1));
    let ingest = ingest::Ingest::new(ctx.db.clone(), routes::Routes::new(tenancy), outbox);
    ctx.broker.declare(&inbox::queue()).await?;
    let workers = ctx
        .broker
        .consume(
            &inbox::queue().name,
            std::sync::Arc::new(inbox::Worker::new(ctx.db.clone(), ingest)),
            RetryPolicy::default(),
        )
        .await?;
    let sweep = inbox::spawn_sweep(ctx.db.clone(), ctx.broker.clone());
    let served = aerostic_kit::grpc::serve(
        DispatcherServer::new(DispatcherGrpc { ctx }),
        listener,
        shutdown,
    )
    .await;
    workers.shutdown().await;
    relay.abort();
    sweep.abort();
    served?;
    Ok(())
}
