//! Connecting WhatsApp numbers. Three ways in, one rule: nothing is stored
//! until Meta has said yes to every step, so a failure leaves no half
//! account behind, and a retry with a fresh code simply works.
//!
//! - Embedded Signup, popup variant: `start` hands the browser what
//!   `FB.login` needs and a signed `state`; `finish` takes the code and the
//!   ids from the FINISH event, exchanges the code, subscribes the app to the
//!   WABA, registers the number with its PIN and stores the account.
//! - Redirect variant: `callback` gets only `code` and `state`; it learns
//!   the WABA from `debug_token` and its numbers from Meta, and stores them
//!   `pending` (no PIN yet); `init_cloud` with the PIN finishes each.
//! - `init_cloud` on a number the platform's system-user token reaches.
//!
//! A business's token is stored encrypted, bound to its tenant and column.

mod routes;
pub mod state;
pub mod system_token;

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::cache::Cache;
use aerostic_kit::crypto::{Binding, KeyRing};
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::mask::mask_phone;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditRecord, actor};
use crate::entity::whatsapp_account;
use crate::meta::{Graph, PhoneNumber};
use crate::settings::Settings;
use crate::tenants::{find_tenant, limit_reached, plan_of};
use crate::validate::Problems;
use state::StateSeal;
use system_token::SystemToken;

/// The associated-data column of a business's token.
pub const TOKEN_COLUMN: &str = "whatsapp_accounts.access_token";
/// How long `resolve` answers from the cache.
pub const ROUTE_TTL: Duration = Duration::from_secs(60);

/// What the browser needs to open Embedded Signup.
#[derive(Debug, Clone)]
pub struct SignupStart {
    /// The Meta app id for `FB.init`.
    pub app_id: String,
    /// The Embedded Signup configuration id for `FB.login`.
    pub config_id: String,
    /// The signed state to send back.
    pub state: String,
    /// The Graph version for `FB.init`.
    pub graph_version: String,
}

/// The popup's result, as the browser relays it.
pub struct Finish {
    /// The code from `FB.login`.
    pub code: String,
    /// The state from [`SignupStart`].
    pub state: String,
    /// From the FINISH event.
    pub waba_id: String,
    /// From the FINISH event.
    pub phone_number_id: String,
    /// The two-step verification PIN (6 digits).
    pub pin: String,
}

/// Where a number routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The owning tenant.
    pub tenant_id: String,
    /// The account row.
    pub account_id: String,
    /// The tenant's status (`active`/`suspended`).
    pub tenant_status: String,
    /// Meta's id of the account's WABA.
    pub waba_id: String,
}

/// A Graph object id: digits only.
pub fn graph_id(raw: &str) -> Result<String, &'static str> {
    let id = raw.trim();
    if id.is_empty() {
        Err("is required")
    } else if id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        Err("must be a Meta id (digits)")
    } else {
        Ok(id.to_string())
    }
}

fn pin(raw: &str) -> Result<String, &'static str> {
    let pin = raw.trim();
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(pin.to_string())
    } else {
        Err("must be the 6-digit two-step verification PIN")
    }
}

fn taken() -> ApiError {
    ApiError::new(
        ErrorKind::AlreadyExists,
        "number_already_connected",
        "this number is already connected to a workspace",
    )
}

fn route_key(phone_number_id: &str) -> String {
    format!("route:phone:{phone_number_id}")
}

/// WhatsApp accounts.
#[derive(Clone)]
pub struct WhatsApp {
    db: DatabaseConnection,
    outbox: Outbox,
    keys: KeyRing,
    cache: Arc<dyn Cache>,
    graph: Graph,
    settings: Settings,
    seal: StateSeal,
    /// The platform's system-user token.
    pub system_token: SystemToken,
}

/// What [`WhatsApp::new`] needs.
pub struct Parts {
    /// Accounts live here.
    pub db: DatabaseConnection,
    /// Audit events go through it.
    pub outbox: Outbox,
    /// Seals tokens.
    pub keys: KeyRing,
    /// Caches routes.
    pub cache: Arc<dyn Cache>,
    /// Reaches Meta.
    pub graph: Graph,
    /// Platform settings (Graph version, rotation period).
    pub settings: Settings,
    /// The secret the signup state is signed under.
    pub state_secret: Vec<u8>,
}

impl WhatsApp {
    /// Onboarding over `parts`.
    pub fn new(parts: Parts) -> Self {
        let system_token = SystemToken::new(
            parts.db.clone(),
            parts.outbox.clone(),
            parts.keys.clone(),
            parts.graph.clone(),
            parts.settings.clone(),
        );
        Self {
            db: parts.db,
            outbox: parts.outbox,
            keys: parts.keys,
            cache: parts.cache,
            graph: parts.graph,
            settings: parts.settings,
            seal: StateSeal::new(&parts.state_secret),
            system_token,
        }
    }

    fn configured(&self) -> Result<(), ApiError> {
        if self.graph.config().is_configured() {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                "meta_not_configured",
                "this platform has no Meta app configured",
            ))
        }
    }

    async fn version(&self) -> Result<String, ApiError> {
        Ok(self
            .settings
            .values()
            .await?
            .get("meta.graph_version")
            .to_string())
    }

    /// Numbers a tenant's plan counts: every one not disconnected, besides
    /// `except` (a number being connected again).
    pub async fn numbers_in_use(&self, tenant_id: &str, except: &str) -> Result<u64, ApiError> {
        whatsapp_account::Entity::find()
            .filter(whatsapp_account::Column::TenantId.eq(tenant_id))
            .filter(whatsapp_account::Column::PhoneNumberId.ne(except))
            .filter(whatsapp_account::Column::Status.ne("disconnected"))
            .count(&self.db)
            .await
            .map_err(ApiError::internal)
    }

    /// The plan allows one more number (besides `phone_number_id` itself).
    async fn check_room(&self, tenant_id: &str, phone_number_id: &str) -> Result<(), ApiError> {
        let tenant = find_tenant(&self.db, tenant_id).await?;
        let plan = plan_of(&self.db, &tenant).await?;
        if self.numbers_in_use(tenant_id, phone_number_id).await? >= plan.max_numbers as u64 {
            return Err(limit_reached("max_numbers", plan.max_numbers));
        }
        Ok(())
    }

    /// The number's account if it exists: another tenant's, or a connected
    /// one, is a conflict; a pending one of this tenant is returned.
    async fn existing(
        &self,
        tenant_id: &str,
        phone_number_id: &str,
    ) -> Result<Option<whatsapp_account::Model>, ApiError> {
        let found = whatsapp_account::Entity::find()
            .filter(whatsapp_account::Column::PhoneNumberId.eq(phone_number_id))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        match found {
            Some(a) if a.tenant_id != tenant_id || a.status == "connected" => Err(taken()),
            other => Ok(other),
        }
    }

    /// Starts Embedded Signup (workspace admins).
    pub async fn start(&self, caller: &Identity) -> Result<SignupStart, ApiError> {
        caller.require(Permission::ManageWhatsApp)?;
        self.configured()?;
        let user = caller.user_id.map(|u| u.to_string()).unwrap_or_default();
        let config = self.graph.config();
        Ok(SignupStart {
            app_id: config.app_id.clone(),
            config_id: config.config_id.clone(),
            state: self.seal.issue(&caller.tenant_id.to_string(), &user),
            graph_version: self.version().await?,
        })
    }

    /// Finishes the popup variant: exchange, subscribe, register, store.
    pub async fn finish(
        &self,
        caller: &Identity,
        req: Finish,
    ) -> Result<whatsapp_account::Model, ApiError> {
        caller.require(Permission::ManageWhatsApp)?;
        let mut problems = Problems::default();
        if req.code.trim().is_empty() || req.code.len() > 2048 {
            problems.check::<()>("code", Err("is required (the code FB.login returned)"));
        }
        let waba_id = problems.check("waba_id", graph_id(&req.waba_id));
        let phone_id = problems.check("phone_number_id", graph_id(&req.phone_number_id));
        let pin = problems.check("pin", pin(&req.pin));
        problems.finish()?;
        let (waba_id, phone_id, pin) = (
            waba_id.expect("checked"),
            phone_id.expect("checked"),
            pin.expect("checked"),
        );
        let tenant_id = caller.tenant_id.to_string();
        let user = caller.user_id.map(|u| u.to_string()).unwrap_or_default();
        self.seal.open_for(&req.state, &tenant_id, &user)?;
        self.configured()?;
        let pending = self.existing(&tenant_id, &phone_id).await?;
        self.check_room(&tenant_id, &phone_id).await?;

        let version = self.version().await?;
        let token = self.graph.exchange_code(&version, req.code.trim()).await?;
        self.graph.subscribe_app(&version, &token, &waba_id).await?;
        self.graph
            .register(&version, &token, &phone_id, &pin)
            .await?;
        let number = self.graph.phone_number(&version, &token, &phone_id).await?;
        self.store(
            caller,
            &waba_id,
            number,
            Some(&token),
            pending,
            Some("embedded_signup"),
        )
        .await
    }

    /// The redirect variant: the state authenticates; every number of the
    /// WABA the code grants is stored `pending` until `init_cloud` gives its PIN.
    pub async fn callback(
        &self,
        code: &str,
        state: &str,
    ) -> Result<Vec<whatsapp_account::Model>, ApiError> {
        let state = self.seal.open(state)?;
        if code.trim().is_empty() {
            return Err(ApiError::invalid_field("code", "is required"));
        }
        self.configured()?;
        let caller = Identity {
            tenant_id: state
                .t
                .parse()
                .map_err(|_| ApiError::invalid_field("state", "is malformed"))?,
            user_id: state.u.parse().ok(),
            role: aerostic_kit::identity::Role::WorkspaceAdmin,
            api_key_id: None,
            scopes: Vec::new(),
        };
        // The state was issued to a workspace admin; make sure they still are one.
        let user = crate::entity::user::Entity::find_by_id(&state.u)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|u| u.active && u.tenant_id == state.t && u.role == "workspace_admin")
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::PermissionDenied,
                    "forbidden",
                    "the signup's user may no longer connect numbers",
                )
            })?;
        let version = self.version().await?;
        let token = self.graph.exchange_code(&version, code.trim()).await?;
        let wabas = self.graph.token_wabas(&version, &token).await?;
        let mut numbers = Vec::new();
        for waba in &wabas {
            for number in self.graph.phone_numbers(&version, &token, waba).await? {
                numbers.push((waba.clone(), number));
            }
        }
        if numbers.is_empty() {
            return Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                "no_number_shared",
                "the signup shared no WhatsApp number; run it again and pick one",
            ));
        }
        let mut stored = Vec::new();
        for (waba, number) in numbers {
            let existing = self.existing(&state.t, &number.id).await?;
            self.check_room(&state.t, &number.id).await?;
            let account = self
                .store(&caller, &waba, number, Some(&token), existing, None)
                .await?;
            stored.push(account);
        }
        tracing::info!(tenant_id = %user.tenant_id, numbers = stored.len(), "signup redirect stored pending numbers");
        Ok(stored)
    }

    /// Registers a number for Cloud API: a pending one with its own token,
    /// else one the platform's system-user token reaches.
    pub async fn init_cloud(
        &self,
        caller: &Identity,
        waba_id: &str,
        phone_number_id: &str,
        raw_pin: &str,
    ) -> Result<whatsapp_account::Model, ApiError> {
        caller.require(Permission::ManageWhatsApp)?;
        let mut problems = Problems::default();
        let waba_id = problems.check("waba_id", graph_id(waba_id));
        let phone_id = problems.check("phone_number_id", graph_id(phone_number_id));
        let pin = problems.check("pin", pin(raw_pin));
        problems.finish()?;
        let (waba_id, phone_id, pin) = (
            waba_id.expect("checked"),
            phone_id.expect("checked"),
            pin.expect("checked"),
        );
        self.configured()?;
        let tenant_id = caller.tenant_id.to_string();
        let pending = self.existing(&tenant_id, &phone_id).await?;
        if pending.as_ref().is_some_and(|p| p.waba_id != waba_id) {
            return Err(ApiError::invalid_field(
                "waba_id",
                "is not this number's WhatsApp account",
            ));
        }
        self.check_room(&tenant_id, &phone_id).await?;
        let version = self.version().await?;
        let own_token = match pending.as_ref().and_then(|p| p.access_token.clone()) {
            Some(sealed) => Some(self.open_token(&tenant_id, &sealed)?),
            None => None,
        };
        let token = match &own_token {
            Some(t) => t.clone(),
            None => self.system_token.current().await?,
        };
        // Reading the number first proves the token reaches it under this WABA.
        let number = self.graph.phone_number(&version, &token, &phone_id).await?;
        self.graph.subscribe_app(&version, &token, &waba_id).await?;
        self.graph
            .register(&version, &token, &phone_id, &pin)
            .await?;
        self.store(
            caller,
            &waba_id,
            number,
            own_token.as_deref(),
            pending,
            Some("cloud_init"),
        )
        .await
    }

    fn seal_token(&self, tenant_id: &str, token: &str) -> String {
        self.keys.encrypt(
            token.as_bytes(),
            Binding {
                tenant: tenant_id,
                column: TOKEN_COLUMN,
            },
        )
    }

    fn open_token(&self, tenant_id: &str, sealed: &str) -> Result<String, ApiError> {
        let plain = self
            .keys
            .decrypt(
                sealed,
                Binding {
                    tenant: tenant_id,
                    column: TOKEN_COLUMN,
                },
            )
            .map_err(ApiError::internal)?;
        String::from_utf8(plain).map_err(ApiError::internal)
    }

    /// The token to send from `account` with: its own, else the system user's.
    pub async fn token_for(&self, account: &whatsapp_account::Model) -> Result<String, ApiError> {
        match &account.access_token {
            Some(sealed) => self.open_token(&account.tenant_id, sealed),
            None => self.system_token.current().await,
        }
    }

    /// Inserts or updates the number's account in one transaction with its
    /// audit entry. `how` is `None` for a pending number (awaiting its PIN),
    /// else how it got connected.
    async fn store(
        &self,
        caller: &Identity,
        waba_id: &str,
        number: PhoneNumber,
        token: Option<&str>,
        existing: Option<whatsapp_account::Model>,
        how: Option<&str>,
    ) -> Result<whatsapp_account::Model, ApiError> {
        let tenant_id = caller.tenant_id.to_string();
        let now = chrono::Utc::now();
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let is_new = existing.is_none();
        let mut row = match existing {
            Some(found) => found.into_active_model(),
            None => whatsapp_account::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                tenant_id: Set(tenant_id.clone()),
                created_at: Set(now),
                connected_at: Set(None),
                ..Default::default()
            },
        };
        row.waba_id = Set(waba_id.to_string());
        row.phone_number_id = Set(number.id.clone());
        row.display_phone_number = Set(number.display_phone_number.clone());
        row.verified_name = Set(number.verified_name.clone());
        row.status = Set(if how.is_some() {
            "connected"
        } else {
            "pending"
        }
        .into());
        row.access_token = Set(token.map(|t| self.seal_token(&tenant_id, t)));
        if how.is_some() {
            row.connected_at = Set(Some(now));
            // Connected anew, with a token that works: whatever Meta's
            // refusals said of the number is behind it.
            row.restriction = Set(String::new());
            row.restriction_reason = Set(String::new());
            row.restricted_at = Set(None);
        }
        let account = if is_new {
            row.insert(&txn).await
        } else {
            row.update(&txn).await
        }
        .map_err(conflict_or_internal)?;
        let phone = mask_phone(&number.display_phone_number);
        let (action, detail) = match how {
            Some(how) => (
                "whatsapp.number_connected",
                format!("number {phone} connected by {how}"),
            ),
            None => (
                "whatsapp.number_pending",
                format!("number {phone} awaits its PIN"),
            ),
        };
        AuditRecord::now(&tenant_id, &actor(caller), action, &detail)
            .commit_with(&self.outbox, txn)
            .await?;
        if how.is_some() {
            let _ = self
                .cache
                .delete(&route_key(&account.phone_number_id))
                .await;
            tracing::info!(tenant_id = %tenant_id, account_id = %account.id, "WhatsApp number connected");
        }
        Ok(account)
    }

    /// The caller's numbers, oldest first. Users who work the inbox see
    /// them; an API key needs `messages:send` or `messages:read`.
    pub async fn list(&self, caller: &Identity) -> Result<Vec<whatsapp_account::Model>, ApiError> {
        if caller.api_key_id.is_some() {
            if !caller
                .scopes
                .iter()
                .any(|s| s == "messages:send" || s == "messages:read")
            {
                caller.require_scope("messages:read")?;
            }
        } else {
            caller.require(Permission::Inbox)?;
        }
        whatsapp_account::Entity::find()
            .filter(whatsapp_account::Column::TenantId.eq(caller.tenant_id.to_string()))
            .order_by_asc(whatsapp_account::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)
    }
}

fn conflict_or_internal(e: sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => taken(),
        _ => ApiError::internal(e),
    }
}
