//! JSON response bodies.

use super::error::{ApiError, ErrorCode};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON response body, like `axum::Json`, written into a `Vec` sized for a list
/// page from the start. `axum::Json` writes through a `BytesMut` that begins at 128
/// bytes: a page of fifteen conversations (some 11 KB) grew it seven times, and each
/// of the few hundred pieces serde writes went through its capacity checks.
pub struct Json<T>(pub T);

/// Enough for a default page of conversations or messages in one allocation.
pub(super) const INITIAL_CAPACITY: usize = 16 * 1024;

/// A 200 answer with `body`, JSON already written.
pub(super) fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(INITIAL_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => json_response(body),
            // Our resources are structs and string-keyed maps, which always serialize;
            // should one not, the client still gets the contract's error body.
            Err(e) => {
                tracing::error!(error = %e, "a response did not serialize");
                ApiError::new(ErrorCode::Internal).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_json_with_their_content_type() {
        let response = Json(serde_json::json!({"data": [1, "two"]})).into_response();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(&body[..], br#"{"data":[1,"two"]}"#);
    }

    #[tokio::test]
    async fn a_value_that_cannot_serialize_is_the_internal_error_body() {
        // A map with non-string keys is the one shape serde_json refuses.
        let refused: std::collections::BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
        let response = Json(refused).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert!(body["message"].is_string(), "{body}");
    }
}
