//! `/v1/team/*`: invitations and the workspace's users (workspace admins;
//! accepting an invitation needs only its token).

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::views::{DataList, InvitationView, UserView};
use crate::{AppState, GatewayError};

/// `POST /v1/team/invitations` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    /// Who to invite.
    #[serde(default)]
    #[schema(required = true)]
    email: String,
    /// `workspace_admin` or `agent`.
    #[serde(default)]
    #[schema(required = true, example = "agent")]
    role: String,
}

/// Invites someone; the single-use token is in this answer only.
#[utoipa::path(post, operation_id = "team_invite", path = "/v1/team/invitations", tag = "team", request_body = InviteBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The invitation", body = InvitationView),
        BodyErrors, CallerErrors,
        (status = 409, description = "`email_taken`: the email already has an account", body = ErrorBody),
        (status = 422, description = "`plan_limit_reached`: every seat of the plan is taken", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn invite(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<InvitationView>), GatewayError> {
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
        Json(InvitationView {
            invitation_id: reply.invitation_id,
            invitation_token: reply.invitation_token,
            expires_at: crate::views::rfc3339(reply.expires_at),
        }),
    ))
}

/// `POST /v1/team/invitations/accept` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The token from the invitation.
    #[serde(default)]
    #[schema(required = true)]
    invitation_token: String,
    /// The new user's display name.
    #[serde(default)]
    #[schema(required = true)]
    full_name: String,
    /// At least 12 characters.
    #[serde(default)]
    #[schema(required = true)]
    password: String,
}

/// The invitee joins (no credential: the token is the credential).
#[utoipa::path(post, operation_id = "team_accept", path = "/v1/team/invitations/accept", tag = "team", request_body = AcceptBody,
    responses(
        (status = 201, description = "The new user", body = UserView),
        BodyErrors,
        (status = 404, description = "`invitation_not_found`: unknown, expired or already used", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "`plan_limit_reached`: every seat of the plan is taken", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn accept(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<(StatusCode, Json<UserView>), GatewayError> {
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
    Ok((StatusCode::CREATED, Json(UserView::of(user))))
}

/// The workspace's users.
#[utoipa::path(get, operation_id = "team_list", path = "/v1/team/users", tag = "team",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The users, deactivated ones included", body = DataList<UserView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<DataList<UserView>>, GatewayError> {
    let request = state.as_caller(&caller, pb::ListUsersRequest { page: None });
    let reply = state
        .tenancy
        .clone()
        .list_users(request)
        .await?
        .into_inner();
    Ok(Json(DataList::of(reply.users, UserView::with_active)))
}

/// `PATCH /v1/team/users/{id}` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `workspace_admin` or `agent`.
    #[serde(default)]
    #[schema(required = true, example = "workspace_admin")]
    role: String,
}

/// Changes a user's role.
#[utoipa::path(patch, operation_id = "team_change_role", path = "/v1/team/users/{id}", tag = "team", request_body = RoleBody,
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        BodyErrors, CallerErrors,
        (status = 404, description = "`user_not_found` (also for another workspace's user)", body = ErrorBody),
        (status = 422, description = "`cannot_change_self`: admins do not demote themselves", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn change_role(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<UserView>, GatewayError> {
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
    Ok(Json(UserView::of(user)))
}

/// Deactivates a user and ends their sessions.
#[utoipa::path(post, operation_id = "team_deactivate", path = "/v1/team/users/{id}/deactivate", tag = "team",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, inactive", body = UserView),
        CallerErrors,
        (status = 404, description = "`user_not_found` (also for another workspace's user)", body = ErrorBody),
        (status = 422, description = "`cannot_change_self`: admins do not deactivate themselves", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, GatewayError> {
    let request = state.as_caller(&caller, pb::DeactivateUserRequest { user_id: id });
    let user = state
        .tenancy
        .clone()
        .deactivate_user(request)
        .await?
        .into_inner();
    Ok(Json(UserView {
        active: Some(false),
        ..UserView::of(user)
    }))
}
