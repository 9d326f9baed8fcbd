//! The automation service of Aerostic: flows, AI agents, executions and tenants' outbound webhooks.
//!
//! Its contract (`proto/aerostic/v1/automation.proto`) is served in full; every RPC
//! answers `UNIMPLEMENTED` until the automation issue builds it.

#![warn(missing_docs)]

use std::future::Future;

use aerostic_kit::context::Context;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::automation_server::{Automation, AutomationServer};
use tokio::net::TcpListener;

/// The gRPC server of automation.
pub struct AutomationGrpc {
    _ctx: Context,
}

aerostic_kit::service_impl! {
    impl Automation for AutomationGrpc {}
    unimplemented {
        create_flow(pb::CreateFlowRequest) -> pb::Flow;
        get_flow(pb::GetFlowRequest) -> pb::Flow;
        list_flows(pb::ListFlowsRequest) -> pb::ListFlowsResponse;
        update_flow(pb::UpdateFlowRequest) -> pb::Flow;
        delete_flow(pb::DeleteFlowRequest) -> pb::DeleteFlowResponse;
        import_flow(pb::ImportFlowRequest) -> pb::Flow;
        export_flow(pb::ExportFlowRequest) -> pb::ExportFlowResponse;
        create_agent(pb::CreateAgentRequest) -> pb::Agent;
        get_agent(pb::GetAgentRequest) -> pb::Agent;
        list_agents(pb::ListAgentsRequest) -> pb::ListAgentsResponse;
        update_agent(pb::UpdateAgentRequest) -> pb::Agent;
        delete_agent(pb::DeleteAgentRequest) -> pb::DeleteAgentResponse;
        list_executions(pb::ListExecutionsRequest) -> pb::ListExecutionsResponse;
        get_execution(pb::GetExecutionRequest) -> pb::Execution;
        create_webhook_subscription(pb::CreateWebhookSubscriptionRequest) -> pb::CreateWebhookSubscriptionResponse;
        list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest) -> pb::ListWebhookSubscriptionsResponse;
        delete_webhook_subscription(pb::DeleteWebhookSubscriptionRequest) -> pb::DeleteWebhookSubscriptionResponse;
        list_webhook_deliveries(pb::ListWebhookDeliveriesRequest) -> pb::ListWebhookDeliveriesResponse;
    }
}

/// Serves automation on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    aerostic_kit::grpc::serve(
        AutomationServer::new(AutomationGrpc { _ctx: ctx }),
        listener,
        shutdown,
    )
    .await?;
    Ok(())
}
