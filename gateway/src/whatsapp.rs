//! `/v1/whatsapp/*` and `/v1/meta/callback`: connecting WhatsApp numbers
//! (workspace admins; agents may list them).

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{CallerErrors, ServerErrors};
use crate::views::{AccountView, DataList, SignupRedirectView, SignupStartView};
use crate::{AppState, GatewayError};

/// What the browser needs for `FB.login`.
#[utoipa::path(get, operation_id = "whatsapp_start", path = "/v1/whatsapp/embedded/start", tag = "whatsapp",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "App id, configuration id and a state bound to the caller", body = SignupStartView),
        CallerErrors,
        (status = 422, description = "`meta_not_configured`: the platform has no Meta app yet", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn start(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<SignupStartView>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .start_embedded_signup(s.as_caller(&c, pb::StartEmbeddedSignupRequest {}))
        .await?
        .into_inner();
    Ok(Json(SignupStartView {
        app_id: reply.app_id,
        config_id: reply.config_id,
        state: reply.state,
        graph_version: reply.graph_version,
    }))
}

/// `POST /v1/whatsapp/embedded/finish` body: the code and the FINISH event's ids.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    /// The code `FB.login` returned.
    #[serde(default)]
    #[schema(required = true)]
    code: String,
    /// The state from `embedded/start`.
    #[serde(default)]
    #[schema(required = true)]
    state: String,
    /// `waba_id` of the FINISH event.
    #[serde(default)]
    #[schema(required = true)]
    waba_id: String,
    /// `phone_number_id` of the FINISH event.
    #[serde(default)]
    #[schema(required = true)]
    phone_number_id: String,
    /// The number's six-digit two-step verification PIN.
    #[serde(default)]
    #[schema(required = true, example = "123456")]
    pin: String,
}

/// Exchanges the code, subscribes the app to the WABA, registers the
/// number and stores it. Nothing is stored unless every step succeeds.
#[utoipa::path(post, operation_id = "whatsapp_finish", path = "/v1/whatsapp/embedded/finish", tag = "whatsapp", request_body = FinishBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The number, connected", body = AccountView),
        (status = 400, description = "`validation_failed` (`details` names each bad field, e.g. a state that expired or is another user's), \
            `signup_code_invalid` (expired or used code: run the signup again), `wrong_pin`, `malformed_json`, `unsupported_media_type`", body = ErrorBody),
        CallerErrors,
        (status = 409, description = "`number_already_connected` (to this or another workspace)", body = ErrorBody),
        (status = 422, description = "`meta_token_invalid` (Meta 190), `meta_rejected`, `meta_not_configured`, `plan_limit_reached`", body = ErrorBody),
        (status = 429, description = "`register_rate_limited`: Meta allows 10 registrations per 72 h", body = ErrorBody),
        (status = 503, description = "`meta_unavailable`, `meta_error`: Meta failed; retry. Also `unavailable`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    ))]
pub async fn finish(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<FinishBody>,
) -> Result<(StatusCode, Json<AccountView>), GatewayError> {
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
    Ok((
        StatusCode::CREATED,
        Json(AccountView::of(reply.into_inner())),
    ))
}

/// Query of the redirect variant.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The code Meta appended.
    #[serde(default)]
    code: String,
    /// The state from `embedded/start`, passed through Meta.
    #[serde(default)]
    state: String,
}

/// Meta's redirect after Embedded Signup: the signed state authenticates;
/// the numbers come back `pending` until `cloud/init` gives their PIN.
#[utoipa::path(get, operation_id = "whatsapp_callback", path = "/v1/meta/callback", tag = "whatsapp", params(CallbackQuery),
    responses(
        (status = 200, description = "The numbers found, pending", body = SignupRedirectView),
        (status = 400, description = "`validation_failed` (missing code, bad or expired state), `signup_code_invalid`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the state's user may no longer connect numbers", body = ErrorBody),
        (status = 409, description = "`number_already_connected`", body = ErrorBody),
        (status = 422, description = "`no_number_shared`, `meta_token_invalid`, `meta_rejected`, `meta_not_configured`, `plan_limit_reached`", body = ErrorBody),
        (status = 503, description = "`meta_unavailable`, `meta_error`, `unavailable`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    ))]
pub async fn callback(
    State(s): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Result<Json<SignupRedirectView>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .complete_signup_redirect(pb::CompleteSignupRedirectRequest {
            code: q.code,
            state: q.state,
        })
        .await?;
    Ok(Json(SignupRedirectView {
        data: reply
            .into_inner()
            .accounts
            .into_iter()
            .map(AccountView::of)
            .collect(),
        next: "POST /v1/whatsapp/cloud/init with each number's waba_id, phone_number_id and PIN"
            .into(),
    }))
}

/// `POST /v1/whatsapp/cloud/init` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitBody {
    /// The WhatsApp Business Account the number is in.
    #[serde(default)]
    #[schema(required = true)]
    waba_id: String,
    /// Meta's id of the number.
    #[serde(default)]
    #[schema(required = true)]
    phone_number_id: String,
    /// Six-digit two-step verification PIN (set now if the number has none).
    #[serde(default)]
    #[schema(required = true, example = "123456")]
    pin: String,
}

/// Registers a number for the Cloud API with the platform's system-user
/// token, or completes a `pending` one from the redirect flow.
#[utoipa::path(post, operation_id = "whatsapp_cloud_init", path = "/v1/whatsapp/cloud/init", tag = "whatsapp", request_body = InitBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The number, connected", body = AccountView),
        (status = 400, description = "`validation_failed`, `wrong_pin`, `malformed_json`, `unsupported_media_type`", body = ErrorBody),
        CallerErrors,
        (status = 409, description = "`number_already_connected`", body = ErrorBody),
        (status = 422, description = "`meta_token_invalid`, `meta_rejected`, `meta_not_configured`, `plan_limit_reached`", body = ErrorBody),
        (status = 429, description = "`register_rate_limited`", body = ErrorBody),
        (status = 503, description = "`meta_unavailable`, `meta_error`, `unavailable`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    ))]
pub async fn cloud_init(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<InitBody>,
) -> Result<(StatusCode, Json<AccountView>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::InitCloudNumberRequest {
            waba_id: b.waba_id,
            phone_number_id: b.phone_number_id,
            pin: b.pin,
        },
    );
    let reply = s.tenancy.clone().init_cloud_number(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountView::of(reply.into_inner())),
    ))
}

/// The workspace's numbers and their status.
#[utoipa::path(get, operation_id = "whatsapp_me", path = "/v1/whatsapp/me", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The numbers", body = DataList<AccountView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn me(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<DataList<AccountView>>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_whats_app_accounts(s.as_caller(&c, pb::ListWhatsAppAccountsRequest {}))
        .await?;
    Ok(Json(DataList::of(
        reply.into_inner().accounts,
        AccountView::of,
    )))
}
