//! Customers' media, kept by us. Meta keeps inbound media 7 days and offers
//! no history (META_API.md §10, §12), so our copy is the record: every
//! inbound image, video, audio, document and sticker is fetched through the
//! Graph API with the number's token, checked against Meta's SHA-256, and
//! put in an object store; the tenant reads it back through the API.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::Identity;
use aerostic_kit::ids::TenantId;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use base64::Engine;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use crate::entity::media;

/// The topic a fetch is asked on.
pub const FETCH_TOPIC: &str = "media.fetch";
/// Message types that carry media.
pub const KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];
/// Meta's largest media (documents).
pub const MAX_BYTES: usize = 100 * 1024 * 1024;

/// The fetchers' queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("dispatcher.media", &[FETCH_TOPIC])
}

use crate::objects::ObjectStore;

#[derive(Serialize, Deserialize)]
struct Fetch {
    media_id: String,
}

/// Records inbound `message`'s media (if it has any) and stages its fetch,
/// inside the transaction that stores the message.
pub async fn stage(
    txn: &impl ConnectionTrait,
    outbox: &Outbox,
    tenant: TenantId,
    message_id: &str,
    phone_number_id: &str,
    message: &Value,
) -> Result<(), DbErr> {
    let kind = message["type"].as_str().unwrap_or_default();
    if !KINDS.contains(&kind) {
        return Ok(());
    }
    let object = &message[kind];
    let Some(meta_id) = object["id"].as_str() else {
        return Ok(());
    };
    let id = uuid::Uuid::now_v7().to_string();
    media::Entity::insert(media::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant.to_string()),
        message_id: Set(message_id.to_string()),
        phone_number_id: Set(phone_number_id.to_string()),
        meta_media_id: Set(meta_id.chars().take(64).collect()),
        mime_type: Set(object["mime_type"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .chars()
            .take(128)
            .collect()),
        sha256: Set(object["sha256"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect()),
        filename: Set(object["filename"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(255)
            .collect()),
        size: Set(0),
        storage_key: Set(String::new()),
        status: Set("pending".into()),
        error: Set(String::new()),
        created_at: Set(Utc::now()),
        stored_at: Set(None),
    })
    .exec(txn)
    .await?;
    outbox
        .stage(txn, &Envelope::json(FETCH_TOPIC, &Fetch { media_id: id }))
        .await
}

/// Fetches staged media from Meta into the store.
pub struct Fetcher {
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    tenancy: TenancyClient<TracedChannel>,
    graph_url: String,
    http: reqwest::Client,
}

impl Fetcher {
    /// Fetches through the Graph API at `graph_url`, with tokens from `tenancy`.
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        tenancy: TenancyClient<TracedChannel>,
        graph_url: String,
    ) -> Self {
        Self {
            db,
            store,
            tenancy,
            graph_url,
            http: reqwest::Client::new(),
        }
    }

    async fn mark(
        &self,
        id: &str,
        status: &str,
        error: &str,
        stored: Option<(String, i64)>,
    ) -> Result<(), DbErr> {
        let mut update = media::Entity::update_many()
            .col_expr(media::Column::Status, Expr::value(status))
            .col_expr(
                media::Column::Error,
                Expr::value(error.chars().take(300).collect::<String>()),
            )
            .filter(media::Column::Id.eq(id));
        if let Some((key, size)) = stored {
            update = update
                .col_expr(media::Column::StorageKey, Expr::value(key))
                .col_expr(media::Column::Size, Expr::value(size))
                .col_expr(media::Column::StoredAt, Expr::value(Utc::now()));
        }
        update.exec(&self.db).await.map(|_| ())
    }

    /// Downloads `row`'s bytes from Meta: `Err((retry, why))`.
    async fn download(&self, row: &media::Model) -> Result<Vec<u8>, (bool, String)> {
        let credentials = self
            .tenancy
            .clone()
            .get_send_credentials(pb::GetSendCredentialsRequest {
                phone_number_id: row.phone_number_id.clone(),
                waba_id: String::new(),
            })
            .await
            .map_err(|s| {
                (
                    s.code() != tonic::Code::NotFound,
                    format!("no token: {}", s.message()),
                )
            })?
            .into_inner();
        let token = credentials.access_token;
        let url = format!(
            "{}/{}/{}",
            self.graph_url, credentials.graph_version, row.meta_media_id
        );
        let transient = |e: reqwest::Error| (true, e.to_string());
        let info = self
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(transient)?;
        if !info.status().is_success() {
            let status = info.status();
            return Err((
                status.is_server_error() || status.as_u16() == 429,
                format!("Meta answered {status} for the media id"),
            ));
        }
        let info: Value = info.json().await.map_err(transient)?;
        let Some(link) = info["url"].as_str() else {
            return Err((false, "Meta gave no download URL".into()));
        };
        let file = self
            .http
            .get(link)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(transient)?;
        if !file.status().is_success() {
            let status = file.status();
            return Err((
                status.is_server_error() || status.as_u16() == 404,
                format!("the download answered {status}"),
            ));
        }
        let bytes = file.bytes().await.map_err(transient)?;
        if bytes.len() > MAX_BYTES {
            return Err((false, "larger than 100 MB".into()));
        }
        let expected = if row.sha256.is_empty() {
            info["sha256"].as_str().unwrap_or_default().to_string()
        } else {
            row.sha256.clone()
        };
        let actual = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
        if !expected.is_empty() && expected != actual {
            return Err((true, "the bytes do not match Meta's SHA-256".into()));
        }
        Ok(bytes.to_vec())
    }
}

#[async_trait::async_trait]
impl Handler for Fetcher {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let fetch: Fetch = envelope.parse().map_err(HandlerError::permanent)?;
        let Some(row) = media::Entity::find_by_id(fetch.media_id)
            .one(&self.db)
            .await
            .map_err(HandlerError::retry)?
        else {
            return Err(HandlerError::permanent("no such media"));
        };
        if row.status == "stored" {
            return Ok(());
        }
        match self.download(&row).await {
            Ok(bytes) => {
                let key = format!("{}/{}", row.tenant_id, row.id);
                self.store
                    .put(&key, &bytes)
                    .await
                    .map_err(HandlerError::retry)?;
                self.mark(&row.id, "stored", "", Some((key, bytes.len() as i64)))
                    .await
                    .map_err(HandlerError::retry)
            }
            Err((true, why)) => Err(HandlerError::retry(why)),
            Err((false, why)) => {
                tracing::warn!(media_id = %row.id, reason = %why, "inbound media could not be kept");
                self.mark(&row.id, "failed", &why, None)
                    .await
                    .map_err(HandlerError::retry)
            }
        }
    }
}

/// Media `id` of `tenant` (404 `media_not_found` for another tenant's).
pub async fn owned(
    db: &DatabaseConnection,
    tenant: aerostic_kit::ids::TenantId,
    id: &str,
) -> Result<media::Model, ApiError> {
    media::Entity::find_by_id(id.to_string())
        .filter(media::Column::TenantId.eq(tenant.to_string()))
        .one(db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "media_not_found",
                "no media of this workspace has this id",
            )
        })
}

/// A media file of the caller's tenant with its bytes.
pub async fn read(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    caller: &Identity,
    id: &str,
) -> Result<(media::Model, Vec<u8>), ApiError> {
    crate::reads::may_read(caller, "messages:read")?;
    let row = owned(db, caller.tenant_id, id).await?;
    match row.status.as_str() {
        "stored" => {
            let bytes = store
                .get(&row.storage_key)
                .await
                .map_err(ApiError::internal)?;
            Ok((row, bytes))
        }
        "failed" => Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            "media_unavailable",
            format!("Meta's media could not be kept: {}", row.error),
        )),
        _ => Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            "media_not_ready",
            "the media is still being fetched from Meta; try again shortly",
        )),
    }
}
