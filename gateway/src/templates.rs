//! `/v1/templates`: message templates, created and deleted through Meta,
//! listed from our copy (kept current by Meta's webhooks and syncs).
//! Everyone who answers conversations reads them (keys: `templates:read`);
//! workspace admins create and delete (keys: `templates:write`).
//! Fields default when absent so that the caller's rights are checked
//! before the body (a 403 does not depend on what was sent).

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::views::DataList;
use crate::{AppState, GatewayError};

/// A template as we last heard of it from Meta.
#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    /// Our id.
    id: String,
    /// The WhatsApp Business Account it belongs to.
    waba_id: String,
    /// Its name.
    name: String,
    /// Its language code.
    language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[serde(default)]
    #[schema(required = true)]
    category: String,
    /// `pending`, `approved`, `rejected`, `paused` or `disabled`.
    status: String,
    /// Meta's `components`.
    #[schema(value_type = Object)]
    components: serde_json::Value,
    /// Meta's reason, when rejected.
    rejected_reason: String,
}

impl TemplateView {
    fn of(t: pb::Template) -> Self {
        let status = match t.status() {
            pb::TemplateStatus::Pending => "pending",
            pb::TemplateStatus::Approved => "approved",
            pb::TemplateStatus::Rejected => "rejected",
            pb::TemplateStatus::Paused => "paused",
            pb::TemplateStatus::Disabled => "disabled",
            pb::TemplateStatus::Unspecified => "unknown",
        };
        Self {
            status: status.into(),
            components: serde_json::from_str(&t.components_json).unwrap_or_default(),
            id: t.id,
            waba_id: t.waba_id,
            name: t.name,
            language: t.language,
            category: t.category,
            rejected_reason: t.rejected_reason,
        }
    }
}

/// Which account's templates.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WabaQuery {
    /// Meta's WhatsApp Business Account id; empty lists every account's.
    #[serde(default)]
    waba_id: String,
}

/// `POST /v1/templates` body, as Meta takes it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateBody {
    /// One of the workspace's WhatsApp Business Accounts.
    #[serde(default)]
    #[schema(required = true)]
    waba_id: String,
    /// 1 to 512 of `a-z`, `0-9` and `_`.
    #[serde(default)]
    #[schema(required = true)]
    name: String,
    /// `en_US`, `pt_BR`, …
    #[serde(default)]
    #[schema(required = true)]
    language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[serde(default)]
    #[schema(required = true)]
    category: String,
    /// Meta's `components` (a `BODY` with text at least; examples for parameters).
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    components: serde_json::Value,
}

/// `POST /v1/templates/sync` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// The WhatsApp Business Account to sync.
    #[serde(default)]
    #[schema(required = true)]
    waba_id: String,
}

/// How many templates a sync found at Meta.
#[derive(Serialize, ToSchema)]
pub struct SyncedView {
    /// Templates now in our copy.
    synced: u32,
}

const NOT_YOURS: &str = "`waba_not_found`: not a WhatsApp Business Account of this workspace";
const META: &str = "`meta_refused`: Meta refused it (`details.meta_code`, `details.meta_details`)";

/// The workspace's templates, by name and language.
#[utoipa::path(get, path = "/v1/templates", operation_id = "templates_list", tag = "templates",
    params(WabaQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every template", body = DataList<TemplateView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn list(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<WabaQuery>,
) -> Result<Json<DataList<TemplateView>>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .list_templates(s.as_caller(
            &c,
            pb::ListTemplatesRequest {
                waba_id: q.waba_id,
                page: None,
            },
        ))
        .await?
        .into_inner();
    Ok(Json(DataList::of(reply.templates, TemplateView::of)))
}

/// Creates a template at Meta; it is `pending` until Meta's review.
#[utoipa::path(post, path = "/v1/templates", operation_id = "templates_create", tag = "templates",
    request_body = NewTemplateBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Submitted for review", body = TemplateView),
        (status = 404, description = NOT_YOURS, body = ErrorBody),
        (status = 422, description = META, body = ErrorBody),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn create(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<NewTemplateBody>,
) -> Result<(StatusCode, Json<TemplateView>), GatewayError> {
    let request = pb::CreateTemplateRequest {
        waba_id: b.waba_id,
        name: b.name,
        language: b.language,
        category: b.category,
        components_json: b.components.to_string(),
    };
    let made = s
        .dispatcher
        .clone()
        .create_template(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(TemplateView::of(made))))
}

/// Deletes a template (every language) at Meta and here.
#[utoipa::path(delete, path = "/v1/templates/{name}", operation_id = "templates_delete", tag = "templates",
    params(("name" = String, Path, description = "The template's name"), WabaQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`validation_failed`: `waba_id` is required", body = ErrorBody),
        (status = 404, description = "`waba_not_found`, `template_not_found`", body = ErrorBody),
        (status = 422, description = META, body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn delete(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(name): Path<String>,
    Query(q): Query<WabaQuery>,
) -> Result<StatusCode, GatewayError> {
    s.dispatcher
        .clone()
        .delete_template(s.as_caller(
            &c,
            pb::DeleteTemplateRequest {
                waba_id: q.waba_id,
                name,
            },
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes our copy of an account's templates what Meta lists now.
#[utoipa::path(post, path = "/v1/templates/sync", operation_id = "templates_sync", tag = "templates",
    request_body = SyncBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Synced", body = SyncedView),
        (status = 404, description = NOT_YOURS, body = ErrorBody),
        (status = 422, description = META, body = ErrorBody),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn sync(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<SyncBody>,
) -> Result<Json<SyncedView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .sync_templates(s.as_caller(&c, pb::SyncTemplatesRequest { waba_id: b.waba_id }))
        .await?
        .into_inner();
    Ok(Json(SyncedView {
        synced: reply.synced,
    }))
}
