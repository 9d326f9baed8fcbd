//! Media (§10): multipart upload with Meta's MIME and size limits, retrieval
//! of a URL that lives 5 minutes and needs the bearer token, download, delete.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Sandbox;
use crate::error::MetaError;

/// How long a retrieved media URL works.
pub const URL_TTL_SECS: u64 = 5 * 60;

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Media {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// Its MIME type.
    pub mime: String,
    /// The WABA whose tokens may read it.
    pub waba_id: String,
    /// The signed download key of the current URL, and when it expires.
    pub url_key: Option<(String, u64)>,
}

/// The most bytes Meta accepts for `mime`, or `None` if the type is not accepted.
pub fn limit_for(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    Some(match mime {
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "application/pdf"
        | "text/plain"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => 100 * MB,
        _ => return None,
    })
}

fn upload_error(details: String) -> MetaError {
    MetaError::coded(StatusCode::BAD_REQUEST, 131053, "Media upload error").details(details)
}

/// `POST /{version}/{phone-number-id}/media` (multipart: `messaging_product`, `file`).
pub async fn upload(
    State(sandbox): State<Sandbox>,
    Path((version, number_id)): Path<(String, String)>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Json<Value>, MetaError> {
    let waba = {
        let world = sandbox.world();
        let waba = crate::send::caller(&world, &version, &headers)?;
        if world
            .numbers
            .get(&number_id)
            .is_none_or(|n| n.waba_id != waba)
        {
            return Err(MetaError::unknown_object(&number_id));
        }
        waba
    };
    let (mut product, mut file) = (None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| upload_error(e.to_string()))?
    {
        match field.name() {
            Some("messaging_product") => product = field.text().await.ok(),
            Some("file") => {
                let mime = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| upload_error(e.to_string()))?;
                file = Some((mime, bytes));
            }
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return Err(MetaError::invalid_parameter(
            "The parameter messaging_product is required.",
        ));
    }
    let Some((mime, bytes)) = file else {
        return Err(MetaError::invalid_parameter(
            "The parameter file is required.",
        ));
    };
    let limit = limit_for(&mime).ok_or_else(|| upload_error(format!("Param file must be a file with one of the following types: image/jpeg, image/png, image/webp, video/mp4, video/3gpp, audio/aac, audio/amr, audio/mpeg, audio/mp4, audio/ogg, application/pdf, text/plain and Office documents. Received file of type '{mime}'.")))?;
    if bytes.len() > limit {
        return Err(upload_error(format!(
            "File of {} bytes is over the {limit}-byte limit for {mime}",
            bytes.len()
        )));
    }
    let mut world = sandbox.world();
    let id = format!(
        "{}",
        1_780_000_000_000_000u64 + world.media.len() as u64 + 1
    );
    world.media.insert(
        id.clone(),
        Media {
            bytes: Arc::new(bytes.to_vec()),
            mime,
            waba_id: waba,
            url_key: None,
        },
    );
    Ok(Json(json!({"id": id})))
}

/// `GET /{version}/{media-id}`: metadata and a fresh 5-minute URL (or, for
/// a phone-number id, the number's fields; for a template id, the template).
pub async fn retrieve(
    State(sandbox): State<Sandbox>,
    Path((version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    let waba = crate::send::caller(&world, &version, &headers)?;
    // A phone-number id reads the number's fields (throughput, messaging limit).
    if let Some(number) = world.numbers.get(&media_id).filter(|n| n.waba_id == waba) {
        return Ok(Json(crate::control::number_fields(number, &world)));
    }
    // A template id reads the template (`?fields=status` and the rest).
    if let Some(t) = world.templates.get(&media_id).filter(|t| t.waba_id == waba) {
        return Ok(Json(serde_json::to_value(t).expect("templates serialise")));
    }
    let key = world.trace_id();
    let expires = world.now() + URL_TTL_SECS;
    let Some(media) = world.media.get_mut(&media_id).filter(|m| m.waba_id == waba) else {
        return Err(MetaError::unknown_object(&media_id));
    };
    media.url_key = Some((key.clone(), expires));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8090");
    let sha =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(media.bytes.as_slice()));
    Ok(Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/_media/{media_id}?mid={key}"),
        "mime_type": media.mime,
        "sha256": sha,
        "file_size": media.bytes.len().to_string(),
        "id": media_id,
    })))
}

/// Query of a download URL.
#[derive(Deserialize)]
pub struct Download {
    mid: String,
}

/// `GET /_media/{media-id}?mid=…`: the bytes, with the same bearer token,
/// while the URL is fresh; 404 once it expired (fetch a new URL).
pub async fn download(
    State(sandbox): State<Sandbox>,
    Path(media_id): Path<String>,
    Query(q): Query<Download>,
    headers: HeaderMap,
) -> Result<Response, MetaError> {
    let world = sandbox.world();
    let waba = crate::send::authorize(&world, &headers)?;
    let now = world.now();
    let media = world
        .media
        .get(&media_id)
        .filter(|m| {
            m.waba_id == waba
                && m.url_key
                    .as_ref()
                    .is_some_and(|(k, exp)| *k == q.mid && now < *exp)
        })
        .ok_or_else(|| {
            MetaError::coded(StatusCode::NOT_FOUND, 100, "Media URL expired or invalid")
        })?;
    let body = Body::from(media.bytes.as_ref().clone());
    Ok(([(header::CONTENT_TYPE, media.mime.clone())], body).into_response())
}

/// `DELETE /{version}/{media-id}`.
pub async fn delete(
    State(sandbox): State<Sandbox>,
    Path((version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    let waba = crate::send::caller(&world, &version, &headers)?;
    if world.media.get(&media_id).is_none_or(|m| m.waba_id != waba) {
        return Err(MetaError::unknown_object(&media_id));
    }
    world.media.remove(&media_id);
    Ok(Json(json!({"success": true})))
}
