//! The mesh itself: readiness, gRPC status codes, health, metrics.

use crate::common;

use std::net::SocketAddr;

use aerostic_kit::config::{ServiceName, Upstreams};
use aerostic_kit::context::Connections;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use common::spawn_app;
use tonic::Code;

#[tokio::test]
async fn readyz_is_200_when_every_dependency_and_service_answers() {
    let app = spawn_app().await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    for check in [
        "database",
        "broker",
        "cache",
        "tenancy",
        "dispatcher",
        "automation",
        "billing",
        "anomaly",
    ] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    app.platform.stop().await;
}

#[tokio::test]
async fn readyz_is_503_and_names_each_unreachable_service() {
    let backends = common::real_backends().await;
    let conns = Connections::connect(&backends).await.unwrap();
    // Bind and drop: a port where nothing listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let state = aerostic_gateway::AppState::new(
        Upstreams::at(ServiceName::ALL.map(|n| (n, dead))),
        conns,
        &common::test_secrets(),
        "localhost",
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(aerostic_gateway::run(
        state,
        listener,
        std::future::pending(),
    ));
    let resp = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["failed"],
        serde_json::json!(["anomaly", "automation", "billing", "dispatcher", "tenancy"])
    );
    assert_eq!(body["checks"]["database"]["ok"], true);
}

fn grpc_addr(app: &common::TestApp, name: ServiceName) -> SocketAddr {
    app.platform
        .grpc
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

#[tokio::test]
async fn grpc_callers_get_precise_status_codes() {
    let app = spawn_app().await;
    let url = format!("http://{}", grpc_addr(&app, ServiceName::Tenancy));
    let mut tenancy = TenancyClient::new(aerostic_kit::grpc::channel(&url).unwrap());

    let invalid = tenancy
        .register(pb::RegisterRequest::default())
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let err = aerostic_kit::ApiError::from(invalid);
    assert_eq!(err.code, "validation_failed");
    assert!(err.details.contains_key("email"));

    let wrong = tenancy
        .login(pb::LoginRequest {
            email: "nobody@example.com".into(),
            password: "x".into(),
            client_ip: String::new(),
            admin_host: false,
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);

    // No sealed identity: the service itself refuses, whatever reached it.
    let anonymous = tenancy
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    app.platform.stop().await;
}

#[tokio::test]
async fn every_service_reports_serving_on_grpc_health() {
    let app = spawn_app().await;
    for (name, addr) in &app.platform.grpc {
        aerostic_kit::grpc::check_health(&format!("http://{addr}"))
            .await
            .unwrap_or_else(|e| panic!("{} not serving: {e}", name.as_str()));
    }
    app.platform.stop().await;
}

#[tokio::test]
async fn metrics_are_exported_in_prometheus_format() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("aerostic_http_requests_total"), "{text}");
    // Durations are histograms (buckets add up across replicas).
    assert!(
        text.contains("aerostic_http_request_seconds_bucket{route=\"/healthz\",le=\"0.02\"}"),
        "{text}"
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn every_service_lists_its_own_contract_through_reflection() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app().await;
    for (name, addr) in &app.platform.grpc {
        let channel = aerostic_kit::grpc::channel(&format!("http://{addr}")).unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let reply = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected reflection reply from {}", name.as_str());
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        let own = format!(
            "aerostic.v1.{}{}",
            name.as_str()[..1].to_uppercase(),
            &name.as_str()[1..]
        );
        assert_eq!(names, vec![own, "grpc.health.v1.Health".to_string()]);
    }
    app.platform.stop().await;
}
