//! `/api/v1/files/...`: media downloads through expiring signed URLs (no token:
//! the signature is the credential, so the URL works in an `<img>` tag).

use super::error::{ApiError, ErrorCode};
use crate::app::AppState;
use crate::files::FileGrant;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use switchboard_core::validation::Input;
use switchboard_core::TenantId;

/// Download a message attachment
///
/// The URL comes from `file_temporary_url`; its signature is the credential. It
/// serves the file only while its message is not deleted.
#[utoipa::path(
    get,
    path = "/api/v1/files/{key}",
    operation_id = "downloadFile",
    tag = "Messages",
    params(
        ("key" = String, Path, description = "File key, as in the signed URL."),
        ("conversation" = i64, Query, description = "Conversation of the message the file belongs to."),
        ("message" = i64, Query, description = "Message the file belongs to."),
        ("expires" = i64, Query, description = "Unix time the link expires."),
        ("signature" = String, Query, description = "HMAC signature of key, conversation, message and expiry."),
    ),
    responses(
        (status = 200, description = "The file, with the content type sniffed from its bytes", content(
            ("image/*"), ("audio/*"), ("video/*"), ("application/*"),
        )),
        (status = 403, description = "Invalid or expired link", body = super::error::ErrorBody),
        (status = 404, description = "No such file, or its message was deleted", body = super::error::ErrorBody),
    ),
    security(())
)]
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let input = Input::from_query(query.as_deref().unwrap_or(""));
    let number = |name: &str| {
        input
            .get(name)
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let now = state.clock.now().timestamp();
    let signed = match (
        number("conversation"),
        number("message"),
        number("expires"),
        input.get("signature").and_then(|v| v.as_str()),
    ) {
        (Some(conversation_id), Some(message_id), Some(expires), Some(signature)) => {
            let grant = FileGrant {
                key: &key,
                conversation_id,
                message_id,
            };
            (crate::files::is_safe_key(&key) && state.signer.verify(grant, expires, signature, now))
                .then_some(grant)
        }
        _ => None,
    };
    let Some(grant) = signed else {
        return Err(ApiError::new(ErrorCode::InvalidSignature));
    };
    // The link was good when it was made; the file is served only while its message
    // still holds it (a deleted message's file is gone at once, not when the link expires).
    let tenant = grant.tenant().ok_or(ApiError::new(ErrorCode::NotFound))?;
    let message = state
        .store
        .get_message(TenantId(tenant), grant.conversation_id, grant.message_id)
        .await?;
    let still_held = message.and_then(|m| m.file).is_some_and(|f| f.path == key);
    if !still_held {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let bytes = state
        .media
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
