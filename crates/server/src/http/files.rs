//! `/api/v1/files/...`: media downloads through expiring signed URLs (no token:
//! the signature is the credential, so the URL works in an `<img>` tag).

use super::error::{ApiError, ErrorCode};
use crate::app::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use switchboard_core::validation::Input;

/// Download a message attachment
///
/// The URL comes from `file_temporary_url`; its signature is the credential.
#[utoipa::path(
    get,
    path = "/api/v1/files/{key}",
    operation_id = "downloadFile",
    tag = "Messages",
    params(
        ("key" = String, Path, description = "File key, as in the signed URL."),
        ("expires" = i64, Query, description = "Unix time the link expires."),
        ("signature" = String, Query, description = "HMAC signature of key and expiry."),
    ),
    responses(
        (status = 200, description = "The file, with the content type sniffed from its bytes", content(
            ("image/*"), ("audio/*"), ("video/*"), ("application/*"),
        )),
        (status = 403, description = "Invalid or expired link", body = super::error::ErrorBody),
        (status = 404, description = "No such file", body = super::error::ErrorBody),
    ),
    security(())
)]
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let input = Input::from_query(query.as_deref().unwrap_or(""));
    let expires = input
        .get("expires")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<i64>().ok());
    let signature = input.get("signature").and_then(|v| v.as_str());
    let now = state.clock.now().timestamp();
    let valid = match (expires, signature) {
        (Some(expires), Some(signature)) => {
            crate::files::is_safe_key(&key) && state.signer.verify(&key, expires, signature, now)
        }
        _ => false,
    };
    if !valid {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    }
    let bytes = state
        .files
        .get(&key)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read file");
            ApiError::new(ErrorCode::Unavailable)
        })?
        .ok_or(ApiError::new(ErrorCode::NotFound))?;
    let mime = crate::files::sniff(&bytes).map_or("application/octet-stream", |s| s.0);
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(response)
}
