//! Who is calling, as every service trusts it. The gateway authenticates a
//! request (JWT or API key), then seals the [`Identity`] into the gRPC
//! metadata header [`IDENTITY_HEADER`]: compact JSON plus an HMAC-SHA256 tag
//! under a key derived from the platform's JWT secret, valid for a minute.
//! A service opens the seal itself, so a caller that can reach the mesh but
//! holds no secret cannot claim another tenant, and permissions are checked
//! where the data lives, not only at the edge.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorKind};
use crate::ids::{TenantId, UserId};

/// The gRPC metadata key carrying the sealed identity.
pub const IDENTITY_HEADER: &str = "x-aerostic-identity";
/// Seconds a sealed identity stays valid (one request's fan-out).
const SEAL_TTL_SECS: i64 = 60;

/// What a user may be in a tenant (or on the platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform; acts only on the admin host.
    SuperAdmin,
    /// Manages a tenant's settings, WhatsApp connection and team.
    WorkspaceAdmin,
    /// Works the inbox and conversations.
    Agent,
    /// The internal AI agent answering conversations.
    AiAgent,
}

impl Role {
    /// The stored and wire name, e.g. `workspace_admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::WorkspaceAdmin => "workspace_admin",
            Role::Agent => "agent",
            Role::AiAgent => "ai_agent",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(name: &str) -> Option<Role> {
        [
            Role::SuperAdmin,
            Role::WorkspaceAdmin,
            Role::Agent,
            Role::AiAgent,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// Scopes an API key may carry.
pub const SCOPES: &[&str] = &[
    "messages:send",
    "messages:read",
    "contacts:read",
    "contacts:write",
    "templates:read",
    "templates:write",
    "campaigns:write",
    "billing:read",
];

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read and answer conversations.
    Inbox,
    /// Invite users, change roles, deactivate.
    ManageTeam,
    /// Workspace settings, API keys, billing.
    ManageSettings,
    /// Connect and manage WhatsApp numbers.
    ManageWhatsApp,
    /// Platform administration (admin host only).
    PlatformAdmin,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The tenant every query is scoped to.
    pub tenant_id: TenantId,
    /// The user, when a person (or the AI agent) is calling.
    pub user_id: Option<UserId>,
    /// The user's role; API keys act as [`Role::Agent`] limited by scopes.
    pub role: Role,
    /// Set when an API key authenticated the call.
    pub api_key_id: Option<String>,
    /// The API key's scopes (empty for users).
    pub scopes: Vec<String>,
}

/// `tenant_suspended` (403): every credential of a suspended tenant gets it.
pub fn tenant_suspended() -> ApiError {
    ApiError::new(
        ErrorKind::PermissionDenied,
        "tenant_suspended",
        "this workspace is suspended; contact support",
    )
}

fn denied(message: &str) -> ApiError {
    ApiError::new(ErrorKind::PermissionDenied, "forbidden", message)
}

impl Identity {
    /// Whether this caller may do what `permission` guards. API keys reach
    /// only the developer API, through [`Identity::require_scope`].
    pub fn allows(&self, permission: Permission) -> bool {
        if self.api_key_id.is_some() {
            return false;
        }
        match permission {
            Permission::Inbox => self.role != Role::SuperAdmin,
            Permission::ManageTeam | Permission::ManageSettings | Permission::ManageWhatsApp => {
                self.role == Role::WorkspaceAdmin
            }
            Permission::PlatformAdmin => self.role == Role::SuperAdmin,
        }
    }

    /// `Ok` when allowed, else a 403 naming what is missing.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.allows(permission) {
            Ok(())
        } else {
            Err(denied("your role does not allow this action"))
        }
    }

    /// For developer-API actions: users pass by role, keys need `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        match &self.api_key_id {
            Some(_) if self.scopes.iter().any(|s| s == scope) => Ok(()),
            Some(_) => Err(denied("this API key lacks a scope").with_detail("scope", scope)),
            None if self.role != Role::SuperAdmin => Ok(()),
            None => Err(denied("platform admins act only on the admin host")),
        }
    }
}

/// Seals and opens identities with the mesh's shared key.
#[derive(Clone)]
pub struct IdentitySeal {
    seal: crate::seal::Seal,
}

impl IdentitySeal {
    /// A seal keyed from the JWT secret, domain-separated so a sealed identity
    /// can never pass as an access token or the other way round.
    pub fn new(jwt_secret: &[u8]) -> Self {
        Self {
            seal: crate::seal::Seal::new(jwt_secret, b"aerostic identity seal v1"),
        }
    }

    /// The header value for `identity`.
    pub fn seal(&self, identity: &Identity) -> String {
        self.seal.seal(identity, SEAL_TTL_SECS)
    }

    /// The identity in a header value, if the tag matches and it is fresh.
    pub fn open(&self, value: &str) -> Result<Identity, ApiError> {
        self.seal.open(value).ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unauthenticated,
                "unauthenticated",
                "no valid caller identity",
            )
        })
    }

    /// Adds the sealed `identity` to an outgoing request.
    pub fn attach<T>(&self, request: &mut tonic::Request<T>, identity: &Identity) {
        let value = self.seal(identity).parse().expect("base64 is ASCII");
        request.metadata_mut().insert(IDENTITY_HEADER, value);
    }

    /// The caller of an incoming request (401 without a valid seal).
    pub fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Identity, ApiError> {
        let value = request
            .metadata()
            .get(IDENTITY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.open(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn admin() -> Identity {
        Identity {
            tenant_id: TenantId::new(),
            user_id: Some(UserId::new()),
            role: Role::WorkspaceAdmin,
            api_key_id: None,
            scopes: vec![],
        }
    }

    #[test]
    fn a_sealed_identity_opens_only_with_the_same_secret_and_untouched() {
        let seal = IdentitySeal::new(&[1; 32]);
        let sealed = seal.seal(&admin());
        assert_eq!(seal.open(&sealed).unwrap().role, Role::WorkspaceAdmin);
        assert!(IdentitySeal::new(&[2; 32]).open(&sealed).is_err());
        let (body, tag) = sealed.split_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        json["role"] = "super_admin".into();
        let forged = format!("{}.{tag}", B64.encode(json.to_string()));
        assert!(seal.open(&forged).is_err());
    }

    #[test]
    fn agents_reach_the_inbox_but_not_settings_and_keys_need_scopes() {
        let agent = Identity {
            role: Role::Agent,
            ..admin()
        };
        assert!(agent.allows(Permission::Inbox));
        assert!(!agent.allows(Permission::ManageSettings));
        assert!(admin().allows(Permission::ManageTeam));
        assert!(!admin().allows(Permission::PlatformAdmin));
        let key = Identity {
            api_key_id: Some("k".into()),
            scopes: vec!["messages:send".into()],
            ..agent
        };
        assert!(key.require_scope("messages:send").is_ok());
        assert!(key.require_scope("contacts:read").is_err());
        assert!(!key.allows(Permission::ManageSettings));
    }
}
