//! Message templates (META_API.md §9): created, edited and deleted through
//! Meta, with our copy per WABA kept current by Meta's answers, the
//! `message_template_status_update` webhook and a sync (on demand and
//! periodic); and the check a template send passes against that copy before
//! anything is queued or paid for.

use aerostic_kit::ApiError;
use aerostic_kit::error::ErrorKind;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::ids::TenantId;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use chrono::Utc;
use reqwest::Method;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

use crate::entity::template;
use crate::events::TemplateStatus;
use crate::graph::{Credentials, Graph, GraphError};
use crate::routes::Routes;
pub use crate::template_check::check_send;

/// A template as a tenant asks Meta to create it.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    /// `[a-z0-9_]`, 1 to 512.
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: String,
    /// Meta's `components` array.
    pub components: Value,
}

impl NewTemplate {
    /// Checks what Meta would refuse, every problem at once.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut problems = std::collections::BTreeMap::new();
        if self.name.is_empty()
            || self.name.len() > 512
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.insert("name".into(), "1 to 512 of a-z, 0-9 and _".into());
        }
        if !crate::compose::language_code(&self.language) {
            problems.insert("language".into(), "a code such as en_US or pt_BR".into());
        }
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&self.category.as_str()) {
            problems.insert(
                "category".into(),
                "MARKETING, UTILITY or AUTHENTICATION".into(),
            );
        }
        let has_body = self.components.as_array().is_some_and(|parts| {
            parts.iter().any(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("body"))
                    && c["text"].as_str().is_some_and(|t| !t.trim().is_empty())
            })
        });
        if !has_body {
            problems.insert(
                "components".into(),
                "an array with a BODY that has text".into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(problems))
        }
    }
}

/// Templates of every tenant's WABAs.
#[derive(Clone)]
pub struct Templates {
    db: DatabaseConnection,
    graph: Graph,
    tenancy: TenancyClient<TracedChannel>,
    routes: Routes,
    /// Approved copies, as every send of a template reads one: reused for
    /// [`APPROVED_TTL`] (this process's own changes drop them at once).
    approved: moka::sync::Cache<String, template::Model>,
}

/// How long an approved copy is reused by sends. A review that pauses or
/// disables it reaches sends within this; Meta refuses the ones between
/// (the send fails with Meta's reason and its price is released).
pub const APPROVED_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Creating and deleting: workspace admins, and keys with `templates:write`.
fn may_manage(caller: &Identity) -> Result<(), ApiError> {
    if caller.api_key_id.is_some() {
        caller.require_scope("templates:write")
    } else {
        caller.require(Permission::ManageSettings)
    }
}

fn template_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "template_not_found",
        "no template with that name in this WhatsApp Business Account",
    )
}

/// Meta refused or could not be reached: the error a tenant sees.
pub fn meta_refused(e: GraphError) -> ApiError {
    match e {
        GraphError::Meta {
            code,
            message,
            details,
            ..
        } => ApiError::new(
            ErrorKind::FailedPrecondition,
            "meta_refused",
            format!("Meta refused it: {message}"),
        )
        .with_detail("meta_code", code.to_string())
        .with_detail("meta_details", details),
        GraphError::Transport(_) => ApiError::unavailable("Meta's Graph API"),
    }
}

impl Templates {
    /// Our copies in `db`; Meta through `graph` with tokens from `tenancy`.
    pub fn new(
        db: DatabaseConnection,
        graph: Graph,
        tenancy: TenancyClient<TracedChannel>,
        routes: Routes,
    ) -> Self {
        Self {
            db,
            graph,
            tenancy,
            routes,
            approved: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(APPROVED_TTL)
                .build(),
        }
    }

    /// Our copy of `name` in `language` on `waba_id` of `tenant`.
    pub async fn find(
        &self,
        tenant: TenantId,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<template::Model>, DbErr> {
        let key = format!("{tenant}|{waba_id}|{name}|{language}");
        if let Some(hit) = self.approved.get(&key) {
            return Ok(Some(hit));
        }
        let found = template::Entity::find()
            .filter(template::Column::TenantId.eq(tenant.to_string()))
            .filter(template::Column::WabaId.eq(waba_id))
            .filter(template::Column::Name.eq(name))
            .filter(template::Column::Language.eq(language))
            .one(&self.db)
            .await?;
        if let Some(t) = found.as_ref().filter(|t| t.status == "APPROVED") {
            self.approved.insert(key, t.clone());
        }
        Ok(found)
    }

    /// The caller's WABA `waba_id` and its credentials (404 for another
    /// tenant's, as for one that does not exist).
    async fn waba(&self, caller: &Identity, waba_id: &str) -> Result<Credentials, ApiError> {
        self.waba_of(caller.tenant_id, waba_id).await
    }

    /// Like [`Templates::waba`], for `tenant`.
    async fn waba_of(&self, tenant: TenantId, waba_id: &str) -> Result<Credentials, ApiError> {
        let not_yours = || {
            ApiError::new(
                ErrorKind::NotFound,
                "waba_not_found",
                "no WhatsApp Business Account with that id in this workspace",
            )
        };
        if waba_id.is_empty() || !waba_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid_field("waba_id", "Meta's numeric id"));
        }
        let owner = self
            .routes
            .tenant_of_waba(waba_id)
            .await
            .map_err(ApiError::from)?;
        if owner != Some(tenant) {
            return Err(not_yours());
        }
        let c = self
            .tenancy
            .clone()
            .get_send_credentials(pb::GetSendCredentialsRequest {
                phone_number_id: String::new(),
                waba_id: waba_id.to_string(),
            })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::NotFound => not_yours(),
                _ => ApiError::from(s),
            })?
            .into_inner();
        Ok(Credentials {
            token: c.access_token,
            version: c.graph_version,
        })
    }

    /// Creates a template through Meta; our copy starts as Meta answered
    /// (PENDING, usually) and follows Meta's review by webhook.
    pub async fn create(
        &self,
        caller: &Identity,
        waba_id: &str,
        new: NewTemplate,
    ) -> Result<template::Model, ApiError> {
        may_manage(caller)?;
        new.check()?;
        let credentials = self.waba(caller, waba_id).await?;
        let body = json!({"name": new.name, "language": new.language, "category": new.category, "components": new.components});
        let answer = self
            .graph
            .call(
                Method::POST,
                &credentials,
                &format!("{waba_id}/message_templates"),
                &[],
                Some(&body),
            )
            .await
            .map_err(meta_refused)?;
        let row = template::Model {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: caller.tenant_id.to_string(),
            waba_id: waba_id.to_string(),
            meta_id: text(&answer["id"]),
            name: new.name,
            language: new.language,
            category: answer["category"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(new.category),
            status: answer["status"].as_str().unwrap_or("PENDING").to_string(),
            components: new.components.to_string(),
            rejected_reason: String::new(),
            updated_at: Utc::now(),
        };
        upsert(&self.db, vec![row.clone()])
            .await
            .map_err(ApiError::internal)?;
        self.approved.invalidate_all();
        Ok(self
            .find(caller.tenant_id, waba_id, &row.name, &row.language)
            .await
            .map_err(ApiError::internal)?
            .unwrap_or(row))
    }

    /// Our copies for `waba_id`, by name and language.
    pub async fn list(
        &self,
        caller: &Identity,
        waba_id: &str,
    ) -> Result<Vec<template::Model>, ApiError> {
        crate::reads::may_read(caller, "templates:read")?;
        let mut query = template::Entity::find()
            .filter(template::Column::TenantId.eq(caller.tenant_id.to_string()));
        if !waba_id.is_empty() {
            query = query.filter(template::Column::WabaId.eq(waba_id));
        }
        query
            .order_by_asc(template::Column::Name)
            .order_by_asc(template::Column::Language)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)
    }

    /// Deletes `name` (every language) at Meta, then our copies.
    pub async fn delete(
        &self,
        caller: &Identity,
        waba_id: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        may_manage(caller)?;
        let credentials = self.waba(caller, waba_id).await?;
        let ours = template::Entity::find()
            .filter(template::Column::TenantId.eq(caller.tenant_id.to_string()))
            .filter(template::Column::WabaId.eq(waba_id))
            .filter(template::Column::Name.eq(name))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        if ours.is_none() {
            return Err(template_not_found());
        }
        self.graph
            .call(
                Method::DELETE,
                &credentials,
                &format!("{waba_id}/message_templates"),
                &[("name", name)],
                None,
            )
            .await
            .map_err(meta_refused)?;
        template::Entity::delete_many()
            .filter(template::Column::TenantId.eq(caller.tenant_id.to_string()))
            .filter(template::Column::WabaId.eq(waba_id))
            .filter(template::Column::Name.eq(name))
            .exec(&self.db)
            .await
            .map_err(ApiError::internal)?;
        self.approved.invalidate_all();
        Ok(())
    }

    /// Makes our copy of `waba_id` what Meta lists: new ones added, changed
    /// ones updated, ones Meta no longer has removed. The number synced.
    pub async fn sync(&self, caller: &Identity, waba_id: &str) -> Result<u32, ApiError> {
        // Everyone who answers conversations; keys need `templates:write`.
        crate::reads::may_read(caller, "templates:write")?;
        self.sync_for(caller.tenant_id, waba_id).await
    }

    /// Syncs every WABA we keep templates for; how many synced. A WABA that
    /// fails (its token refused, Meta down) waits for the next round.
    pub async fn sync_all(&self) -> Result<usize, DbErr> {
        use sea_orm::QuerySelect;
        let wabas: Vec<(String, String)> = template::Entity::find()
            .select_only()
            .column(template::Column::TenantId)
            .column(template::Column::WabaId)
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut synced = 0;
        for (tenant, waba) in wabas {
            let Ok(tenant) = tenant.parse::<TenantId>() else {
                continue;
            };
            match self.sync_for(tenant, &waba).await {
                Ok(_) => synced += 1,
                Err(e) => {
                    tracing::warn!(waba_id = %waba, error = %e.code, "template sync failed; next round")
                }
            }
        }
        Ok(synced)
    }

    /// Syncs every WABA (`sync_all`) every `every` until aborted.
    pub fn spawn_periodic_sync(self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = self.sync_all().await {
                    tracing::warn!(error = %e, "the periodic template sync failed");
                }
            }
        })
    }

    /// Syncs `waba_id` of `tenant` (a review of a template we do not know,
    /// [`crate::template_reviews`]); how many templates it holds.
    pub async fn sync_waba(&self, tenant: TenantId, waba_id: &str) -> Result<u32, ApiError> {
        self.sync_for(tenant, waba_id).await
    }

    async fn sync_for(&self, tenant: TenantId, waba_id: &str) -> Result<u32, ApiError> {
        let credentials = self.waba_of(tenant, waba_id).await?;
        let mut rows = Vec::new();
        let mut after = String::new();
        // Meta pages the list; a WABA holds at most a few thousand.
        for _ in 0..100 {
            let mut query = vec![("limit", "100")];
            if !after.is_empty() {
                query.push(("after", after.as_str()));
            }
            let page = self
                .graph
                .call(
                    Method::GET,
                    &credentials,
                    &format!("{waba_id}/message_templates"),
                    &query,
                    None,
                )
                .await
                .map_err(meta_refused)?;
            for t in page["data"].as_array().into_iter().flatten() {
                rows.push(template::Model {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant_id: tenant.to_string(),
                    waba_id: waba_id.to_string(),
                    meta_id: text(&t["id"]),
                    name: text(&t["name"]),
                    language: text(&t["language"]),
                    category: text(&t["category"]),
                    status: text(&t["status"]),
                    components: t["components"].to_string(),
                    rejected_reason: text(&t["rejected_reason"]),
                    updated_at: Utc::now(),
                });
            }
            let next = text(&page["paging"]["cursors"]["after"]);
            if next.is_empty() || page["paging"]["next"].is_null() {
                break;
            }
            after = next;
        }
        let synced = rows.len() as u32;
        let kept: Vec<String> = rows.iter().map(|r| r.meta_id.clone()).collect();
        upsert(&self.db, rows).await.map_err(ApiError::internal)?;
        self.approved.invalidate_all();
        template::Entity::delete_many()
            .filter(template::Column::TenantId.eq(tenant.to_string()))
            .filter(template::Column::WabaId.eq(waba_id))
            .filter(template::Column::MetaId.is_not_in(kept))
            .exec(&self.db)
            .await
            .map_err(ApiError::internal)?;
        Ok(synced)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Inserts `rows`, or updates the copy of the same name and language.
async fn upsert(db: &impl ConnectionTrait, rows: Vec<template::Model>) -> Result<(), DbErr> {
    for chunk in rows.chunks(200) {
        let models = chunk.iter().cloned().map(|r| template::ActiveModel {
            id: Set(r.id),
            tenant_id: Set(r.tenant_id),
            waba_id: Set(r.waba_id),
            meta_id: Set(r.meta_id),
            name: Set(r.name),
            language: Set(r.language),
            category: Set(r.category),
            status: Set(r.status),
            components: Set(r.components),
            rejected_reason: Set(r.rejected_reason.chars().take(200).collect()),
            updated_at: Set(r.updated_at),
        });
        template::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([
                    template::Column::TenantId,
                    template::Column::WabaId,
                    template::Column::Name,
                    template::Column::Language,
                ])
                .update_columns([
                    template::Column::MetaId,
                    template::Column::Category,
                    template::Column::Status,
                    template::Column::Components,
                    template::Column::RejectedReason,
                    template::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Moves our copy to the status Meta's webhook reports (a template made
/// outside Aerostic waits for the next sync).
pub async fn apply_status(db: &impl ConnectionTrait, update: &TemplateStatus) -> Result<(), DbErr> {
    let reason = if update.reason == "NONE" {
        ""
    } else {
        update.reason.as_str()
    };
    template::Entity::update_many()
        .col_expr(template::Column::Status, Expr::value(update.event.clone()))
        .col_expr(
            template::Column::RejectedReason,
            Expr::value(reason.chars().take(200).collect::<String>()),
        )
        .col_expr(template::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(template::Column::TenantId.eq(update.tenant_id.clone()))
        .filter(template::Column::WabaId.eq(update.waba_id.clone()))
        .filter(template::Column::Name.eq(update.name.clone()))
        .filter(template::Column::Language.eq(update.language.clone()))
        .exec(db)
        .await
        .map(|_| ())
}
