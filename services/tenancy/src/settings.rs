//! Typed platform settings. Every key is declared here with its type,
//! bounds and default; the database stores only what an admin changed, as
//! text. An update is validated whole (every problem reported at once) and
//! applied in one transaction with its audit entry.

use std::collections::BTreeMap;

use aerostic_kit::ApiError;
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::outbox::Outbox;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set};

use crate::audit::{AuditRecord, actor};
use crate::entity::{plan, platform_setting};

/// What a setting's value must be.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// An integer within bounds.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Non-empty text up to a length.
    Text {
        /// Longest allowed, in characters.
        max: usize,
    },
    /// An `https://` URL.
    Url,
    /// `#rrggbb`.
    Color,
    /// A Graph API version such as `v21.0`.
    GraphVersion,
    /// The code of an existing plan.
    Plan,
}

/// One declared setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Its key.
    pub key: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its value until an admin changes it.
    pub default: &'static str,
}

/// Every platform setting.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "signup.enabled",
        kind: Kind::Bool,
        default: "true",
    },
    Setting {
        key: "signup.default_plan",
        kind: Kind::Plan,
        default: "starter",
    },
    Setting {
        key: "branding.name",
        kind: Kind::Text { max: 100 },
        default: "Aerostic",
    },
    Setting {
        key: "branding.logo_url",
        kind: Kind::Url,
        default: "https://aerostic.com/logo.svg",
    },
    Setting {
        key: "branding.primary_color",
        kind: Kind::Color,
        default: "#0f766e",
    },
    Setting {
        key: "branding.accent_color",
        kind: Kind::Color,
        default: "#f59e0b",
    },
    Setting {
        key: "meta.graph_version",
        kind: Kind::GraphVersion,
        default: "v21.0",
    },
    Setting {
        key: "meta.system_user_token_rotation_days",
        kind: Kind::Int { min: 1, max: 365 },
        default: "60",
    },
    Setting {
        key: "billing.default_markup_bps",
        kind: Kind::Int {
            min: 0,
            max: 10_000,
        },
        default: "0",
    },
];

/// The effective settings: defaults overlaid with what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    /// Key → value, every declared key present.
    pub map: BTreeMap<String, String>,
    /// When an admin last changed anything.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Values {
    /// The value of `key` (declared keys always have one).
    pub fn get(&self, key: &str) -> &str {
        self.map.get(key).map(String::as_str).unwrap_or_default()
    }

    /// `key` as an integer (declared integer keys always parse).
    pub fn int(&self, key: &str) -> i64 {
        self.get(key).parse().unwrap_or_default()
    }
}

/// `#rrggbb`, lower-cased.
pub fn color(raw: &str) -> Result<String, &'static str> {
    let ok =
        raw.len() == 7 && raw.starts_with('#') && raw[1..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| raw.to_ascii_lowercase())
        .ok_or("must be a colour like #0f766e")
}

/// An `https://` URL of at most 500 characters.
pub fn https_url(raw: &str) -> Result<String, &'static str> {
    let ok = raw.len() <= 500
        && raw.starts_with("https://")
        && raw.len() > "https://".len()
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| raw.to_string())
        .ok_or("must be an https:// URL of at most 500 characters")
}

async fn check(conn: &impl ConnectionTrait, kind: Kind, raw: &str) -> Result<String, ApiError> {
    let value = raw.trim();
    let problem = match kind {
        Kind::Bool => match value {
            "true" | "false" => return Ok(value.into()),
            _ => "must be true or false",
        },
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => return Ok(n.to_string()),
            _ => "must be an integer within bounds",
        },
        Kind::Text { max } => match crate::validate::name(value, max) {
            Ok(v) => return Ok(v),
            Err(p) => p,
        },
        Kind::Url => match https_url(value) {
            Ok(v) => return Ok(v),
            Err(p) => p,
        },
        Kind::Color => match color(value) {
            Ok(v) => return Ok(v),
            Err(p) => p,
        },
        Kind::GraphVersion => {
            let ok = value
                .strip_prefix('v')
                .and_then(|v| v.split_once('.'))
                .is_some_and(|(major, minor)| {
                    major.parse::<u16>().is_ok() && minor.parse::<u16>().is_ok()
                });
            if ok {
                return Ok(value.into());
            }
            "must be a Graph API version like v21.0"
        }
        Kind::Plan => {
            let found = plan::Entity::find_by_id(value)
                .one(conn)
                .await
                .map_err(ApiError::internal)?;
            match found {
                Some(p) if p.code != crate::tenants::PLATFORM_PLAN => return Ok(p.code),
                _ => "must be the code of a plan",
            }
        }
    };
    Err(ApiError::invalid_field("value", problem))
}

/// Platform settings.
#[derive(Clone)]
pub struct Settings {
    db: DatabaseConnection,
    outbox: Outbox,
}

impl Settings {
    /// Settings in `db`; audit events through `outbox`.
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// The effective settings (for the platform's own use; no caller check).
    pub async fn values(&self) -> Result<Values, ApiError> {
        let stored = platform_setting::Entity::find()
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let mut map: BTreeMap<String, String> = SETTINGS
            .iter()
            .map(|s| (s.key.to_string(), s.default.to_string()))
            .collect();
        let mut updated_at = None;
        for row in stored {
            // A key no longer declared is ignored rather than served.
            if let Some(slot) = map.get_mut(&row.key) {
                *slot = row.value;
                updated_at = updated_at.max(Some(row.updated_at));
            }
        }
        Ok(Values { map, updated_at })
    }

    /// The settings, for a platform admin.
    pub async fn get(&self, caller: &Identity) -> Result<Values, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        self.values().await
    }

    /// Validates and stores `changes` (platform admins).
    pub async fn update(
        &self,
        caller: &Identity,
        changes: BTreeMap<String, String>,
    ) -> Result<Values, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        if changes.is_empty() {
            return Err(ApiError::invalid_field(
                "settings",
                "name at least one setting",
            ));
        }
        let mut problems = BTreeMap::new();
        let mut checked = Vec::new();
        for (key, raw) in &changes {
            let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
                problems.insert(format!("settings.{key}"), "is not a setting".to_string());
                continue;
            };
            match check(&self.db, setting.kind, raw).await {
                Ok(value) => checked.push((key.clone(), value)),
                Err(e) if e.kind == aerostic_kit::ErrorKind::InvalidArgument => {
                    let problem = e.details.into_values().next().unwrap_or_default();
                    problems.insert(format!("settings.{key}"), problem);
                }
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        let now = chrono::Utc::now();
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        for (key, value) in &checked {
            let row = platform_setting::ActiveModel {
                key: Set(key.clone()),
                value: Set(value.clone()),
                updated_by: Set(actor(caller)),
                updated_at: Set(now),
            };
            platform_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(platform_setting::Column::Key)
                        .update_columns([
                            platform_setting::Column::Value,
                            platform_setting::Column::UpdatedBy,
                            platform_setting::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(ApiError::internal)?;
        }
        let detail = checked
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "platform.config_changed",
            &detail,
        )
        .commit_with(&self.outbox, txn)
        .await?;
        self.values().await
    }
}
