//! `/api/v1/customers`.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathId, QueryInput, TenantScope};
use super::json::Json;
use super::resources::{CustomerEnvelope, CustomerPage, CustomerResource};
use crate::app::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use switchboard_core::Role;

pub const READ_SCOPE: &str = "customers:read";
pub const WRITE_SCOPE: &str = "customers:write";

/// List customers
///
/// `search` (name, e-mail, phone digits; same folding as conversations), `sort_by`
/// (id, first_name, last_name, created_at), `sort_order` (asc, desc; default desc).
#[utoipa::path(
    get,
    path = "/api/v1/customers",
    operation_id = "listCustomers",
    tag = "Customers",
    params(
        ("X-Tenant" = i64, Header, description = "Tenant identifier."),
        ("search" = Option<String>, Query, max_length = 255),
        ("sort_by" = Option<String>, Query), ("sort_order" = Option<String>, Query),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100), ("page" = Option<i64>, Query, minimum = 1),
    ),
    responses(
        (status = 200, description = "Paginated set of customers", body = CustomerPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["customers:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    scope: TenantScope,
    headers: HeaderMap,
    QueryInput(input): QueryInput,
) -> Result<Json<CustomerPage>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let (page, request, kept) = state.customers.list(scope.tenant, &input).await?;
    let path = format!("{}/api/v1/customers", state.base_url(&headers));
    let data = page.items.iter().map(CustomerResource::new).collect();
    Ok(Json(CustomerPage::new(
        data, &path, &kept, request, page.total,
    )))
}

/// Create a customer
///
/// `first_name`, `last_name` (max 255), `phone_number` (international, max 20; stored
/// as E.164), `email`, `avatar_url`, `default_channel_id` (a channel of this tenant).
#[utoipa::path(
    post,
    path = "/api/v1/customers",
    operation_id = "createCustomer",
    tag = "Customers",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier.")),
    request_body = super::requests::CustomerRequest,
    responses(
        (status = 201, description = "Created", body = CustomerEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["customers:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    scope: TenantScope,
    body: JsonBody,
) -> Result<(StatusCode, Json<CustomerEnvelope>), ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let input = body.read().await?;
    let customer = state.customers.create(scope.tenant, &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CustomerEnvelope::new(
            "Customer created successfully.",
            CustomerResource::new(&customer),
        )),
    ))
}

/// Get a customer
#[utoipa::path(
    get,
    path = "/api/v1/customers/{id}",
    operation_id = "getCustomer",
    tag = "Customers",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    responses(
        (status = 200, description = "The customer", body = CustomerEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["customers:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
) -> Result<Json<CustomerEnvelope>, ApiError> {
    scope.require(READ_SCOPE, Role::Agent)?;
    let customer = state.customers.get(scope.tenant, id).await?;
    Ok(Json(CustomerEnvelope::new(
        "Customer retrieved successfully.",
        CustomerResource::new(&customer),
    )))
}

/// Update a customer
///
/// Only the fields sent change; null clears a field. Conversations are re-indexed for search.
#[utoipa::path(
    put,
    path = "/api/v1/customers/{id}",
    operation_id = "updateCustomer",
    tag = "Customers",
    params(("X-Tenant" = i64, Header, description = "Tenant identifier."), ("id" = i64, Path)),
    request_body = super::requests::CustomerRequest,
    responses(
        (status = 200, description = "The customer", body = CustomerEnvelope),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = ["customers:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    scope: TenantScope,
    PathId(id): PathId,
    body: JsonBody,
) -> Result<Json<CustomerEnvelope>, ApiError> {
    scope.require(WRITE_SCOPE, Role::Agent)?;
    let input = body.read().await?;
    let customer = state.customers.update(scope.tenant, id, &input).await?;
    Ok(Json(CustomerEnvelope::new(
        "Customer updated successfully.",
        CustomerResource::new(&customer),
    )))
}
