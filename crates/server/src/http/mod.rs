//! The HTTP API: one module per resource, shared extractors, errors and middleware.

pub mod account;
pub mod agent;
pub mod blacklists;
pub mod channels;
pub mod client_addr;
pub mod conversations;
pub mod customers;
pub mod error;
pub mod extract;
pub mod files;
pub mod health;
pub mod json;
pub mod json_writer;
pub mod members;
pub mod messages;
pub mod middleware;
pub mod oauth;
pub mod oauth_clients;
pub mod openapi;
pub mod pagination;
pub mod protocol_errors;
pub mod rate_limit;
pub mod requests;
pub mod resources;
pub mod roles;

use crate::app::AppState;
use axum::extract::DefaultBodyLimit;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use error::{ApiError, ErrorCode};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route("/conversations/{id}", get(conversations::show))
        .route("/conversations/{id}/read", post(messages::mark_read))
        .route(
            "/conversations/{id}/messages",
            get(messages::list).post(messages::send),
        )
        .route(
            "/conversations/{id}/messages/media",
            post(messages::send_media).layer(DefaultBodyLimit::max(
                state.config.max_upload_bytes.saturating_add(64 * 1024),
            )),
        )
        .route(
            "/conversations/{id}/messages/{message_id}",
            axum::routing::put(messages::edit).delete(messages::delete),
        )
        .route("/conversations/{id}/agent", get(agent::status))
        .route("/conversations/{id}/agent/disable", post(agent::disable))
        .route("/conversations/{id}/agent/enable", post(agent::enable))
        .route(
            "/channel-blacklists",
            get(blacklists::list).post(blacklists::create),
        )
        .route(
            "/channel-blacklists/{id}",
            get(blacklists::show)
                .put(blacklists::update)
                .delete(blacklists::delete),
        )
        .route("/channels", get(channels::list).post(channels::create))
        .route(
            "/channels/{id}",
            get(channels::show)
                .put(channels::update)
                .delete(channels::delete),
        )
        .route("/channels/{id}/secret", post(channels::rotate_secret))
        .route("/channels/{id}/inbound", post(channels::inbound))
        .route("/customers", get(customers::list).post(customers::create))
        .route(
            "/customers/{id}",
            get(customers::show).put(customers::update),
        )
        .route("/files/{*key}", get(files::download))
        .route("/account/tenants", get(account::tenants))
        .route(
            "/oauth/clients",
            get(oauth_clients::list).post(oauth_clients::create),
        )
        .route("/members", get(members::list))
        .route(
            "/members/{id}",
            axum::routing::put(members::update).delete(members::remove),
        )
        .route(
            "/oauth/clients/{client_id}",
            axum::routing::delete(oauth_clients::delete),
        )
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/oauth/authorize",
            get(oauth::authorize::show).post(oauth::authorize::decide),
        )
        .route("/oauth/login", post(oauth::authorize::login))
        .route("/oauth/logout", post(oauth::authorize::logout))
        .route("/oauth/token", post(oauth::token::token))
        .route("/oauth/revoke", post(oauth::endpoints::revoke))
        .route("/oauth/introspect", post(oauth::endpoints::introspect))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata::metadata),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::gate,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message(format!(
        "The route {} could not be found.",
        uri.path().trim_start_matches('/')
    ))
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed).with_message(format!(
        "The {method} method is not supported for route {}.",
        uri.path().trim_start_matches('/')
    ))
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("request handler panicked");
    ApiError::new(ErrorCode::Internal).into_response()
}
