//! A tenant's own files, kept in our media store to be sent by our media id
//! (uploaded to Meta by the sender, once per number). Checked against the
//! types and sizes Meta sends, so that a file Meta would refuse is refused
//! here, before any message names it.

use aerostic_kit::ApiError;
use aerostic_kit::identity::Identity;
use base64::Engine;
use chrono::Utc;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sha2::Digest;

use crate::entity::media;
use crate::objects::ObjectStore;

const MB: usize = 1024 * 1024;

/// Meta's types and their largest size: images 5 MB, audio and video
/// 16 MB, documents 100 MB, stickers 500 KB.
const TYPES: &[(&str, usize)] = &[
    ("image/jpeg", 5 * MB),
    ("image/png", 5 * MB),
    ("image/webp", 500 * 1024),
    ("video/mp4", 16 * MB),
    ("video/3gpp", 16 * MB),
    ("audio/aac", 16 * MB),
    ("audio/amr", 16 * MB),
    ("audio/mpeg", 16 * MB),
    ("audio/mp4", 16 * MB),
    ("audio/ogg", 16 * MB),
    ("text/plain", 100 * MB),
    ("application/pdf", 100 * MB),
    ("application/vnd.ms-powerpoint", 100 * MB),
    ("application/msword", 100 * MB),
    ("application/vnd.ms-excel", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        100 * MB,
    ),
];

/// The largest file Meta takes (a document).
pub const MAX_BYTES: usize = 100 * MB;

/// Checks `mime_type` (parameters such as `; codecs=opus` aside) and size.
pub fn check(mime_type: &str, filename: &str, size: usize) -> Result<(), ApiError> {
    let base = mime_type.split(';').next().unwrap_or_default().trim();
    let Some((_, max)) = TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(base)) else {
        let known: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
        return Err(ApiError::invalid_field(
            "content_type",
            format!("one of {}", known.join(", ")),
        ));
    };
    if size == 0 {
        return Err(ApiError::invalid_field("body", "the file is empty"));
    }
    if size > *max {
        return Err(ApiError::invalid_field(
            "body",
            format!("at most {} KB for {base}", max / 1024),
        ));
    }
    if filename.chars().count() > 255 || filename.contains(['/', '\\']) {
        return Err(ApiError::invalid_field(
            "filename",
            "at most 255 characters, without slashes",
        ));
    }
    Ok(())
}

/// Keeps `bytes` for `caller`: the media row (its id is the media id).
pub async fn keep(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    caller: &Identity,
    mime_type: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<media::Model, ApiError> {
    crate::reads::may_read(caller, "messages:send")?;
    check(mime_type, filename, bytes.len())?;
    let id = uuid::Uuid::now_v7().to_string();
    let key = format!("{}/{id}", caller.tenant_id);
    store.put(&key, bytes).await.map_err(ApiError::internal)?;
    let now = Utc::now();
    let row = media::Model {
        id,
        tenant_id: caller.tenant_id.to_string(),
        message_id: String::new(),
        phone_number_id: String::new(),
        meta_media_id: String::new(),
        mime_type: mime_type.chars().take(128).collect(),
        sha256: base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes)),
        filename: filename.to_string(),
        size: bytes.len() as i64,
        storage_key: key,
        status: "stored".into(),
        error: String::new(),
        created_at: now,
        stored_at: Some(now),
    };
    media::Entity::insert(media::ActiveModel {
        id: Set(row.id.clone()),
        tenant_id: Set(row.tenant_id.clone()),
        message_id: Set(row.message_id.clone()),
        phone_number_id: Set(row.phone_number_id.clone()),
        meta_media_id: Set(row.meta_media_id.clone()),
        mime_type: Set(row.mime_type.clone()),
        sha256: Set(row.sha256.clone()),
        filename: Set(row.filename.clone()),
        size: Set(row.size),
        storage_key: Set(row.storage_key.clone()),
        status: Set(row.status.clone()),
        error: Set(String::new()),
        created_at: Set(now),
        stored_at: Set(Some(now)),
    })
    .exec_without_returning(db)
    .await
    .map_err(ApiError::internal)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_types_and_sizes_are_checked_before_anything_is_kept() {
        assert!(check("image/png", "", 4 * MB).is_ok());
        assert!(check("audio/ogg; codecs=opus", "", 1024).is_ok());
        assert_eq!(
            check("image/png", "", 6 * MB).unwrap_err().details["body"],
            "at most 5120 KB for image/png"
        );
        assert!(
            check("image/gif", "", 10).unwrap_err().details["content_type"].starts_with("one of")
        );
        assert!(check("application/pdf", "../x.pdf", 10).is_err());
        assert!(check("application/pdf", "", 0).is_err());
    }
}
