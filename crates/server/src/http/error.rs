//! Every error the API returns, from one table: code -> status, machine code and
//! default message. Bodies always carry `message` and `error`; validation failures
//! add Laravel's `errors` map.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::service::ServiceError;
use switchboard_core::validation::ValidationErrors;
use switchboard_core::StoreError;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    TenantRequired,
    TenantInvalid,
    TenantForbidden,
    InsufficientScope,
    InsufficientRole,
    /// A signed file link with a wrong signature, or past its expiry.
    InvalidSignature,
    Conflict,
    ValidationFailed,
    NotFound,
    MethodNotAllowed,
    InvalidJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    RateLimited,
    Timeout,
    Unavailable,
    Internal,
    /// Answered by the HTTP layer (see `protocol_errors`): a request that cannot be
    /// parsed, a request line or a header section too long.
    MalformedRequest,
    UriTooLong,
    HeadersTooLarge,
}

impl ErrorCode {
    /// The table: HTTP status, machine code, default message.
    pub fn describe(self) -> (StatusCode, &'static str, &'static str) {
        use ErrorCode::*;
        match self {
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated.",
            ),
            TenantRequired => (
                StatusCode::BAD_REQUEST,
                "tenant_required",
                "The X-Tenant header is required.",
            ),
            TenantInvalid => (
                StatusCode::BAD_REQUEST,
                "tenant_invalid",
                "The X-Tenant header must be a positive integer tenant id.",
            ),
            TenantForbidden => (
                StatusCode::FORBIDDEN,
                "tenant_forbidden",
                "You do not have access to this tenant.",
            ),
            InsufficientScope => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "The access token does not have the scope this request needs.",
            ),
            InsufficientRole => (
                StatusCode::FORBIDDEN,
                "insufficient_role",
                "Your role in this tenant does not allow this action.",
            ),
            InvalidSignature => (
                StatusCode::FORBIDDEN,
                "invalid_signature",
                "This file link is invalid or has expired.",
            ),
            Conflict => (
                StatusCode::CONFLICT,
                "conflict",
                "The request conflicts with the current state.",
            ),
            ValidationFailed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The given data was invalid.",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found."),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "The method is not supported for this route.",
            ),
            InvalidJson => (
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "The request body is not valid JSON.",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be sent as application/json.",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large.",
            ),
            RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too Many Attempts.",
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "The request took too long and was cancelled.",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The service is temporarily unavailable. Try again shortly.",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Server Error.",
            ),
            MalformedRequest => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "The request could not be read: a malformed request line or header (control characters are not allowed in header values), or conflicting body lengths.",
            ),
            UriTooLong => (
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "The request URI is too long.",
            ),
            HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "The request headers are too large.",
            ),
        }
    }
}

/// The JSON error body, as documented in the OpenAPI spec.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable explanation.
    #[schema(example = "Unauthenticated.")]
    pub message: String,
    /// Machine-readable code.
    #[schema(example = "unauthenticated")]
    pub error: String,
    /// Validation failures: field name to messages (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub errors: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: Option<String>,
    errors: Option<ValidationErrors>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
            errors: None,
            headers: Vec::new(),
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        Self {
            code: ErrorCode::ValidationFailed,
            message: Some(errors.summary()),
            errors: Some(errors),
            headers: Vec::new(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::new(ErrorCode::NotFound),
            StoreError::Database(_) => {
                tracing::error!(error = %e, "database error");
                ApiError::new(ErrorCode::Unavailable)
            }
            StoreError::Unstorable(_) => ApiError::validation(ValidationErrors::single(
                "body",
                "The request contains a character that cannot be stored (NUL).",
            )),
            StoreError::Duplicate(_) | StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::new(ErrorCode::Internal)
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(errors) => ApiError::validation(errors),
            ServiceError::NotFound => ApiError::new(ErrorCode::NotFound),
            ServiceError::Conflict(message) => {
                ApiError::new(ErrorCode::Conflict).with_message(message)
            }
            ServiceError::Store(e) => e.into(),
            ServiceError::Files(e) => {
                tracing::error!(error = %e, "file store error");
                ApiError::new(ErrorCode::Unavailable)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, default_message) = self.code.describe();
        let errors = self.errors.map(|errors| {
            errors
                .fields()
                .map(|(field, messages)| (field.to_string(), serde_json::json!(messages)))
                .collect()
        });
        let body = ErrorBody {
            message: self.message.unwrap_or_else(|| default_message.to_string()),
            error: error.to_string(),
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
