//! `/v1/whatsapp/*` and `/v1/meta/callback`: connecting WhatsApp numbers.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_keys::rfc3339;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::{AppState, GatewayError};

fn account_json(a: pb::WhatsAppAccount) -> Value {
    let status = match a.status() {
        pb::WhatsAppAccountStatus::WhatsappAccountStatusConnected => "connected",
        pb::WhatsAppAccountStatus::WhatsappAccountStatusPending => "pending",
        _ => "disconnected",
    };
    json!({
        "id": a.id,
        "waba_id": a.waba_id,
        "phone_number_id": a.phone_number_id,
        "display_phone_number": a.display_phone_number,
        "verified_name": a.verified_name,
        "status": status,
        "connected_at": rfc3339(a.connected_at),
    })
}

/// What the browser needs for `FB.login`.
pub async fn start(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .start_embedded_signup(s.as_caller(&c, pb::StartEmbeddedSignupRequest {}))
        .await?
        .into_inner();
    Ok(Json(json!({
        "app_id": reply.app_id,
        "config_id": reply.config_id,
        "state": reply.state,
        "graph_version": reply.graph_version,
    })))
}

/// `POST /v1/whatsapp/embedded/finish` body: the code and the FINISH event's ids.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    waba_id: String,
    #[serde(default)]
    phone_number_id: String,
    #[serde(default)]
    pin: String,
}

/// Exchanges the code, subscribes, registers, stores: 201 with the account.
pub async fn finish(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<FinishBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::FinishEmbeddedSignupRequest {
            code: b.code,
            state: b.state,
            waba_id: b.waba_id,
            phone_number_id: b.phone_number_id,
            pin: b.pin,
        },
    );
    let reply = s.tenancy.clone().finish_embedded_signup(req).await?;
    Ok((StatusCode::CREATED, Json(account_json(reply.into_inner()))))
}

/// Query of the redirect variant.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

/// Meta's redirect after Embedded Signup: the signed state authenticates;
/// the numbers come back `pending` until `cloud/init` gives their PIN.
pub async fn callback(
    State(s): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .complete_signup_redirect(pb::CompleteSignupRedirectRequest {
            code: q.code,
            state: q.state,
        })
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .accounts
        .into_iter()
        .map(account_json)
        .collect();
    Ok(Json(json!({
        "data": data,
        "next": "POST /v1/whatsapp/cloud/init with each number's waba_id, phone_number_id and PIN",
    })))
}

/// `POST /v1/whatsapp/cloud/init` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitBody {
    #[serde(default)]
    waba_id: String,
    #[serde(default)]
    phone_number_id: String,
    #[serde(default)]
    pin: String,
}

/// Registers a number for Cloud API: 201 with the account.
pub async fn cloud_init(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<InitBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::InitCloudNumberRequest {
            waba_id: b.waba_id,
            phone_number_id: b.phone_number_id,
            pin: b.pin,
        },
    );
    let reply = s.tenancy.clone().init_cloud_number(req).await?;
    Ok((StatusCode::CREATED, Json(account_json(reply.into_inner()))))
}

/// The workspace's numbers and their status.
pub async fn me(State(s): State<AppState>, Caller(c): Caller) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_whats_app_accounts(s.as_caller(&c, pb::ListWhatsAppAccountsRequest {}))
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .accounts
        .into_iter()
        .map(account_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}
