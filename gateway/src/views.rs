//! What the REST API answers: one typed view per resource, built from
//! tenancy's protobuf messages. The OpenAPI document is derived from these
//! same types, so the spec cannot drift from what is served.

use std::collections::BTreeMap;

use aerostic_proto::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 3339 of a protobuf timestamp (absent stays absent).
pub(crate) fn rfc3339(t: Option<prost_types::Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| t.to_rfc3339())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A list answer.
#[derive(Serialize, ToSchema)]
pub struct DataList<T> {
    /// The items, newest first where time orders them.
    pub data: Vec<T>,
}

impl<T> DataList<T> {
    /// Maps `items` into views.
    pub fn of<P>(items: Vec<P>, view: impl FnMut(P) -> T) -> Self {
        Self {
            data: items.into_iter().map(view).collect(),
        }
    }
}

/// A user of a workspace.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// User id (UUID).
    pub id: String,
    /// The workspace (tenant) id.
    pub tenant_id: String,
    /// Login email.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// `super_admin`, `workspace_admin`, `agent` or `ai_agent`.
    #[schema(example = "workspace_admin")]
    pub role: String,
    /// Whether the user may sign in (team listings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl UserView {
    /// The view of `user`, without its active flag.
    pub fn of(user: pb::User) -> Self {
        Self {
            role: user.role().wire_name().to_string(),
            id: user.id,
            tenant_id: user.tenant_id,
            email: user.email,
            full_name: user.full_name,
            active: None,
        }
    }

    /// The view of `user` with its active flag.
    pub fn with_active(user: pb::User) -> Self {
        let active = user.active;
        Self {
            active: Some(active),
            ..Self::of(user)
        }
    }
}

/// The tenant a registration created.
#[derive(Serialize, ToSchema)]
pub struct NewTenantView {
    /// Tenant id (UUID).
    pub id: String,
    /// Workspace name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// The plan's code.
    #[schema(example = "starter")]
    pub plan: String,
}

/// `POST /v1/auth/register` answer.
#[derive(Serialize, ToSchema)]
pub struct RegisteredView {
    /// The new workspace.
    pub tenant: NewTenantView,
    /// Its first workspace admin.
    pub user: UserView,
}

impl RegisteredView {
    /// The view of a registration reply.
    pub fn of(reply: pb::RegisterResponse) -> Self {
        let tenant = reply.tenant.unwrap_or_default();
        Self {
            tenant: NewTenantView {
                status: tenant.status().wire_name().to_string(),
                plan: tenant.plan.map(|p| p.code).unwrap_or_default(),
                id: tenant.id,
                name: tenant.name,
            },
            user: UserView::of(reply.user.unwrap_or_default()),
        }
    }
}

/// A session: login and refresh answers.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// Single-use refresh token; spending it twice revokes the session.
    pub refresh_token: String,
    /// Who signed in.
    pub user: UserView,
}

impl SessionView {
    /// The view of a login or refresh reply.
    pub fn of(reply: pb::LoginResponse) -> Self {
        Self {
            access_token: reply.access_token,
            token_type: reply.token_type,
            expires_in: reply.expires_in,
            refresh_token: reply.refresh_token,
            user: UserView::of(reply.user.unwrap_or_default()),
        }
    }
}

/// `GET /v1/me`: who the credential stands for.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    /// The workspace.
    pub tenant_id: String,
    /// The user (absent for API keys).
    pub user_id: Option<String>,
    /// The role the credential acts with.
    pub role: String,
    /// The API key (absent for user sessions).
    pub api_key_id: Option<String>,
    /// The API key's scopes (empty for user sessions).
    pub scopes: Vec<String>,
}

/// A developer API key (never its secret).
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id (UUID).
    pub id: String,
    /// What the key is for.
    pub name: String,
    /// Visible start of the secret, to recognise it.
    #[schema(example = "ak_live_3f9a")]
    pub prefix: String,
    /// What the key may do, e.g. `messages:send`.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it last authenticated a request.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl ApiKeyView {
    /// The view of `key`.
    pub fn of(k: pb::ApiKey) -> Self {
        Self {
            created_at: rfc3339(k.created_at),
            last_used_at: rfc3339(k.last_used_at),
            revoked_at: rfc3339(k.revoked_at),
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
        }
    }
}

/// A key just created, with its secret (shown this once).
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The secret for `Authorization: Bearer` or `X-Api-Key`.
    pub secret: String,
}

/// An invitation just made.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    /// Invitation id.
    pub invitation_id: String,
    /// Single-use token the invitee accepts with (shown this once).
    pub invitation_token: String,
    /// When the token stops working.
    pub expires_at: Option<String>,
}

/// A plan and its limits.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    /// Stable code, e.g. `growth`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Messages the tenant may send per day.
    pub messages_per_day: u32,
    /// WhatsApp numbers it may connect.
    pub max_numbers: u32,
    /// Agents (seats) it may have.
    pub max_agents: u32,
    /// AI agent credits per month.
    pub ai_credits: u32,
}

impl PlanView {
    /// The view of `plan`.
    pub fn of(p: pb::Plan) -> Self {
        Self {
            code: p.code,
            name: p.name,
            messages_per_day: p.messages_per_day,
            max_numbers: p.max_numbers,
            max_agents: p.max_agents,
            ai_credits: p.ai_credits,
        }
    }
}

/// A tenant (workspace) with its plan.
#[derive(Serialize, ToSchema)]
pub struct TenantView {
    /// Tenant id (UUID).
    pub id: String,
    /// Workspace name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Its plan and limits.
    pub plan: PlanView,
    /// The reseller that owns it, if any.
    pub reseller_id: Option<String>,
    /// When it registered.
    pub created_at: Option<String>,
}

impl TenantView {
    /// The view of `tenant`.
    pub fn of(t: pb::Tenant) -> Self {
        Self {
            status: t.status().wire_name().to_string(),
            plan: PlanView::of(t.plan.unwrap_or_default()),
            created_at: rfc3339(t.created_at),
            reseller_id: non_empty(t.reseller_id),
            id: t.id,
            name: t.name,
        }
    }
}

/// The brand a host is served under.
#[derive(Serialize, ToSchema)]
pub struct BrandingView {
    /// The reseller whose domain this is (absent on the platform's hosts).
    pub reseller_id: Option<String>,
    /// Brand name.
    pub name: String,
    /// HTTPS URL of the logo.
    pub logo_url: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// `#rrggbb`.
    pub accent_color: String,
}

impl BrandingView {
    /// The view of `branding`.
    pub fn of(b: pb::Branding) -> Self {
        Self {
            reseller_id: non_empty(b.reseller_id),
            name: b.name,
            logo_url: b.logo_url,
            primary_color: b.primary_color,
            accent_color: b.accent_color,
        }
    }
}

/// One link of the audit chain (PII masked).
#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    /// Event id.
    pub id: String,
    /// The workspace it concerns (empty for platform events).
    pub tenant_id: String,
    /// Who acted (masked).
    pub actor: String,
    /// What happened, e.g. `user.login`.
    pub action: String,
    /// Details (masked).
    pub detail: String,
    /// When.
    pub occurred_at: Option<String>,
}

impl AuditEventView {
    /// The view of `event`.
    pub fn of(e: pb::AuditEvent) -> Self {
        Self {
            occurred_at: rfc3339(e.occurred_at),
            id: e.id,
            tenant_id: e.tenant_id,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        }
    }
}

/// A request taken for later processing.
#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    /// Always `accepted`.
    pub status: String,
    /// What happens next.
    pub message: String,
}

/// A WhatsApp number of the workspace.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    /// Account id (UUID).
    pub id: String,
    /// WhatsApp Business Account id.
    pub waba_id: String,
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// The number as Meta displays it.
    pub display_phone_number: String,
    /// The business name Meta verified.
    pub verified_name: String,
    /// `connected`, `pending` (needs `cloud/init`) or `disconnected`.
    pub status: String,
    /// When it was connected.
    pub connected_at: Option<String>,
    /// Whether its token stopped working: its messages are held until it is
    /// connected again (Embedded Signup or a new token).
    pub needs_reconnect: bool,
    /// What Meta's refusals say about it: `reconnect`, `pause_campaigns`
    /// (Meta's spam limit), `stop_sending` (an account restriction); empty
    /// when nothing is wrong.
    pub restriction: String,
    /// Why, in words for the workspace.
    pub restriction_reason: String,
    /// Since when.
    pub restricted_at: Option<String>,
}

impl AccountView {
    /// The view of `account`.
    pub fn of(a: pb::WhatsAppAccount) -> Self {
        let status = match a.status() {
            pb::WhatsAppAccountStatus::WhatsappAccountStatusConnected => "connected",
            pb::WhatsAppAccountStatus::WhatsappAccountStatusPending => "pending",
            _ => "disconnected",
        };
        Self {
            status: status.to_string(),
            connected_at: rfc3339(a.connected_at),
            needs_reconnect: a.restriction == "reconnect",
            restricted_at: rfc3339(a.restricted_at),
            restriction: a.restriction,
            restriction_reason: a.restriction_reason,
            id: a.id,
            waba_id: a.waba_id,
            phone_number_id: a.phone_number_id,
            display_phone_number: a.display_phone_number,
            verified_name: a.verified_name,
        }
    }
}

/// What the browser needs for `FB.login`.
#[derive(Serialize, ToSchema)]
pub struct SignupStartView {
    /// Meta app id.
    pub app_id: String,
    /// Embedded Signup configuration id.
    pub config_id: String,
    /// Signed, short-lived nonce bound to the caller; send it back on finish.
    pub state: String,
    /// Graph API version, e.g. `v21.0`.
    pub graph_version: String,
}

/// Meta's redirect handled: the numbers found, and what to do next.
#[derive(Serialize, ToSchema)]
pub struct SignupRedirectView {
    /// The numbers, `pending` until registered.
    pub data: Vec<AccountView>,
    /// The next call to make.
    pub next: String,
}

/// The typed platform settings.
#[derive(Serialize, ToSchema)]
pub struct ConfigView {
    /// Setting key to value, e.g. `signup.enabled` → `true`.
    pub settings: BTreeMap<String, String>,
    /// When a setting last changed.
    pub updated_at: Option<String>,
}

impl ConfigView {
    /// The view of `config`.
    pub fn of(c: pb::PlatformConfig) -> Self {
        Self {
            settings: c.settings.into_iter().collect(),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// A reseller, its brand and domains.
#[derive(Serialize, ToSchema)]
pub struct ResellerView {
    /// Reseller id (UUID).
    pub id: String,
    /// Brand name.
    pub name: String,
    /// HTTPS URL of the logo.
    pub logo_url: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// `#rrggbb`.
    pub accent_color: String,
    /// Markup on message prices, in basis points.
    pub markup_bps: u32,
    /// Custom domains serving its brand.
    pub domains: Vec<String>,
    /// When it was created.
    pub created_at: Option<String>,
}

impl ResellerView {
    /// The view of `reseller`.
    pub fn of(r: pb::Reseller) -> Self {
        let b = r.branding.unwrap_or_default();
        Self {
            id: r.id,
            name: b.name,
            logo_url: b.logo_url,
            primary_color: b.primary_color,
            accent_color: b.accent_color,
            markup_bps: r.markup_bps,
            domains: r.domains,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Where the Meta system-user token stands (never the token).
#[derive(Serialize, ToSchema)]
pub struct TokenStatusView {
    /// `stored` (rotated through the admin API), `config` or `none`.
    pub source: String,
    /// When it was last rotated.
    pub rotated_at: Option<String>,
    /// When rotation falls due.
    pub next_rotation_at: Option<String>,
    /// Whether rotation is due now.
    pub rotation_due: bool,
}

impl TokenStatusView {
    /// The view of a token status.
    pub fn of(t: pb::RotateSystemUserTokenResponse) -> Self {
        Self {
            source: t.source,
            rotated_at: rfc3339(t.rotated_at),
            next_rotation_at: rfc3339(t.next_rotation_at),
            rotation_due: t.rotation_due,
        }
    }
}

/// The audit chain walked.
#[derive(Serialize, ToSchema)]
pub struct AuditVerifyView {
    /// Whether every link holds.
    pub intact: bool,
    /// Links checked.
    pub checked: u64,
    /// The first event whose hash does not hold.
    pub first_broken_event_id: Option<String>,
}
