//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
//! database answers too).

use super::json::Json;
use crate::app::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": state.store.backend()})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "database": state.store.backend(), "message": "The database is not reachable.", "error": "service_unavailable"}),
                ),
            )
        }
    }
}
