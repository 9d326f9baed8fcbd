//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! annotations and the view types as the router is built, so every route the
//! gateway serves is in it. `GET /v1/openapi.json` serves it; `/docs` renders it.
//!
//! Errors shared by many endpoints are grouped here; each operation adds the
//! statuses only it can answer.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::ErrorBody;

/// The document's frame: info, tags and security schemes. Paths join it as
/// the router registers them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aerostic API",
        description = "The REST API of Aerostic, a multi-tenant WhatsApp Business platform.\n\n\
            Every error is `{\"error\":{\"code\",\"message\",\"details\"}}`: branch on `code`; \
            `details` names each invalid field. The workspace always comes from the credential, \
            never from a body or path, so another workspace's ids answer 404.\n\n\
            Hosts: `app.<base>` serves the workspace API, `api.<base>` the developer API, \
            `admin.<base>` the platform admin API (super admins only; anything else is 404 there), \
            and a reseller's custom domain serves the workspace API under its brand."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Credentials),
    tags(
        (name = "auth", description = "Registration, sessions and passwords"),
        (name = "workspace", description = "The caller's workspace, brand and audit trail"),
        (name = "api-keys", description = "Developer API keys"),
        (name = "billing", description = "The wallet, its ledger and prices"),
        (name = "messages", description = "Sending messages, and where each stands"),
        (name = "templates", description = "Message templates, through Meta"),
        (name = "team", description = "Users, roles and invitations"),
        (name = "whatsapp", description = "Connecting WhatsApp numbers (Embedded Signup, Cloud API)"),
        (name = "admin", description = "Platform administration, on the admin host only"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// The two ways to authenticate.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or an API key `ak_live_…`")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A developer API key `ak_live_…`",
            ))),
        );
    }
}

/// Errors of any endpoint that takes a JSON body.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// The body is unusable or has invalid fields.
    #[response(
        status = 400,
        description = "`validation_failed` (`details` names each bad field), `malformed_json`, \
            `unsupported_media_type` (send `Content-Type: application/json`), `body_too_large` (over 64 KiB)"
    )]
    BadRequest(ErrorBody),
}

/// Errors of any endpoint that needs a credential.
#[derive(IntoResponses)]
pub enum CallerErrors {
    /// No usable credential.
    #[response(
        status = 401,
        description = "`authentication_required`, `invalid_authorization`, `invalid_token`, \
            `token_expired`, `invalid_api_key`"
    )]
    Unauthenticated(ErrorBody),
    /// The credential may not do this.
    #[response(
        status = 403,
        description = "`tenant_suspended`: the workspace is suspended; `forbidden`: the role \
            or the API key's scopes do not allow this"
    )]
    Forbidden(ErrorBody),
}

/// Errors of every `/v1/admin/*` endpoint: to anyone but a super admin on
/// the admin host it does not exist.
#[derive(IntoResponses)]
pub enum AdminErrors {
    /// Not a super admin (or not the admin host), or no such resource.
    #[response(
        status = 404,
        description = "`route_not_found` to anyone but a super admin signed in on the admin \
            host; otherwise the resource named in the path does not exist \
            (`tenant_not_found`, `reseller_not_found`, `mitigation_not_found`)"
    )]
    NotFound(ErrorBody),
}

/// Errors any endpoint can answer when a dependency fails.
#[derive(IntoResponses)]
pub enum ServerErrors {
    /// A service behind the gateway is unreachable.
    #[response(
        status = 503,
        description = "`unavailable`: a service is unreachable; retry"
    )]
    Unavailable(ErrorBody),
    /// A fault on our side (logged; nothing leaks).
    #[response(status = 500, description = "`internal`")]
    Internal(ErrorBody),
}
