//! `/v1/team/*`: invitations and the workspace's users.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::identity::Caller;
use crate::json::ApiJson;
use crate::{AppState, GatewayError};

/// `POST /v1/team/invitations` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Invites someone: 201 with the single-use token (shown once).
pub async fn invite(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let request = state.as_caller(
        &caller,
        pb::InviteUserRequest {
            email: body.email,
            role: pb::Role::from_wire_name(&body.role) as i32,
        },
    );
    let reply = state
        .tenancy
        .clone()
        .invite_user(request)
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "invitation_id": reply.invitation_id,
            "invitation_token": reply.invitation_token,
            "expires_at": crate::api_keys::rfc3339(reply.expires_at),
        })),
    ))
}

/// `POST /v1/team/invitations/accept` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    #[serde(default)]
    invitation_token: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    password: String,
}

/// The invitee joins (no credential: the token is the credential).
pub async fn accept(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let user = state
        .tenancy
        .clone()
        .accept_invitation(pb::AcceptInvitationRequest {
            invitation_token: body.invitation_token,
            full_name: body.full_name,
            password: body.password,
        })
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(crate::auth::user_json(Some(user))),
    ))
}

/// The workspace's users.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, GatewayError> {
    let request = state.as_caller(&caller, pb::ListUsersRequest { page: None });
    let reply = state
        .tenancy
        .clone()
        .list_users(request)
        .await?
        .into_inner();
    let users: Vec<Value> = reply
        .users
        .into_iter()
        .map(|u| {
            let active = u.active;
            let mut json = crate::auth::user_json(Some(u));
            json["active"] = json!(active);
            json
        })
        .collect();
    Ok(Json(json!({ "data": users })))
}

/// `PATCH /v1/team/users/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    #[serde(default)]
    role: String,
}

/// Changes a user's role.
pub async fn change_role(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<Value>, GatewayError> {
    let request = state.as_caller(
        &caller,
        pb::UpdateUserRoleRequest {
            user_id: id,
            role: pb::Role::from_wire_name(&body.role) as i32,
        },
    );
    let user = state
        .tenancy
        .clone()
        .update_user_role(request)
        .await?
        .into_inner();
    Ok(Json(crate::auth::user_json(Some(user))))
}

/// Deactivates a user and ends their sessions.
pub async fn deactivate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let request = state.as_caller(&caller, pb::DeactivateUserRequest { user_id: id });
    let user = state
        .tenancy
        .clone()
        .deactivate_user(request)
        .await?
        .into_inner();
    let mut json = crate::auth::user_json(Some(user));
    json["active"] = json!(false);
    Ok(Json(json))
}
