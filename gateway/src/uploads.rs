//! `POST /v1/media`: a file of the workspace's, kept to be sent by its id
//! (`"image": {"media_id": …}`). The body is the file itself, its type in
//! `Content-Type`, a document's name in `?filename=`.

use aerostic_kit::ApiError;
use aerostic_proto::v1 as pb;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::openapi::{CallerErrors, ServerErrors};
use crate::{AppState, GatewayError};

/// Meta's largest file (a document), and a little for the framing.
pub const MAX_BODY: usize = 100 * 1024 * 1024;

/// A document's name.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Shown to the customer for documents.
    #[serde(default)]
    filename: String,
}

/// A kept file.
#[derive(Serialize, ToSchema)]
pub struct MediaView {
    /// Send it as `{"media_id": id}`; read it at `GET /v1/media/{id}`.
    id: String,
    /// Its type.
    mime_type: String,
    /// Its name, for documents.
    filename: String,
    /// Base64 SHA-256 of the bytes.
    sha256: String,
}

/// Keeps a file to send: JPEG or PNG images (5 MB), WebP stickers (500 KB),
/// MP4/3GPP video and AAC/AMR/MP3/MP4/OGG audio (16 MB), PDF, text and
/// Office documents (100 MB).
#[utoipa::path(post, path = "/v1/media", operation_id = "media_upload", tag = "messages",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file; its type in Content-Type"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Kept", body = MediaView),
        (status = 400, description = "`validation_failed`: `content_type` (a type Meta does not send), `body` (empty, or over the type's size), `filename`; `body_too_large`: over 100 MB", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn upload(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<MediaView>), GatewayError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            aerostic_kit::ErrorKind::InvalidArgument,
            "body_too_large",
            "the file is over 100 MB",
        )
        .into());
    }
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if mime_type.is_empty() {
        return Err(ApiError::invalid_field("content_type", "required: the file's type").into());
    }
    let kept = s
        .dispatcher
        .clone()
        .upload_media(s.as_caller(
            &c,
            pb::UploadMediaRequest {
                mime_type,
                filename: q.filename,
                data: body.to_vec(),
            },
        ))
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(MediaView {
            id: kept.id,
            mime_type: kept.mime_type,
            filename: kept.filename,
            sha256: kept.sha256,
        }),
    ))
}

/// The body limit of the upload route: one byte over, so that the handler
/// answers a larger file with our error rather than axum's.
pub fn limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_BODY + 1)
}
