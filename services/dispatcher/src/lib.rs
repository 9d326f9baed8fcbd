//! The dispatcher service of Aerostic: contacts, conversations, messages, statuses, templates, opt-outs and the send outbox; `SendMessage` is the only way anything reaches Meta.
//!
//! Its contract (`proto/aerostic/v1/dispatcher.proto`) is served in full; every RPC
//! answers `UNIMPLEMENTED` until the inbound and outbound issues builds it.

#![warn(missing_docs)]

use std::future::Future;

use aerostic_kit::context::Context;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::dispatcher_server::{Dispatcher, DispatcherServer};
use tokio::net::TcpListener;

/// The gRPC server of dispatcher.
pub struct DispatcherGrpc {
    _ctx: Context,
}

aerostic_kit::service_impl! {
    impl Dispatcher for DispatcherGrpc {}
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
        ingest_webhook(pb::IngestWebhookRequest) -> pb::IngestWebhookResponse;
        analytics_overview(pb::AnalyticsOverviewRequest) -> pb::AnalyticsOverviewResponse;
    }
}

/// Serves dispatcher on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    aerostic_kit::grpc::serve(
        DispatcherServer::new(DispatcherGrpc { _ctx: ctx }),
        listener,
        shutdown,
    )
    .await?;
    Ok(())
}
