//! The OpenAPI document, generated from the handlers and resource types.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Multi-tenant conversations API. Every /api request needs `Authorization: Bearer <token>`; tenant-scoped requests also need `X-Tenant: <tenant id>`.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::conversations::list,
        super::conversations::create,
        super::conversations::show,
        super::messages::mark_read,
        super::messages::list,
        super::messages::send,
        super::messages::send_media,
        super::messages::edit,
        super::messages::delete,
        super::agent::status,
        super::agent::disable,
        super::agent::enable,
        super::blacklists::list,
        super::blacklists::create,
        super::blacklists::show,
        super::blacklists::update,
        super::blacklists::delete,
        super::channels::list,
        super::channels::create,
        super::channels::show,
        super::channels::update,
        super::channels::delete,
        super::channels::rotate_secret,
        super::channels::inbound,
        super::customers::list,
        super::customers::create,
        super::customers::show,
        super::customers::update,
        super::account::tenants,
        super::files::download,
        super::oauth_clients::list,
        super::oauth_clients::create,
        super::oauth_clients::delete,
        super::members::list,
        super::members::update,
        super::members::remove,
        super::oauth::token::token,
        super::oauth::endpoints::revoke,
        super::oauth::endpoints::introspect,
        super::oauth::metadata::metadata,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&BearerAuth, &SharedResponses, &EveryKeyPresent),
    tags(
        (name = "Conversations", description = "Conversations with customers across channels."),
        (name = "Messages", description = "Messages of a conversation."),
        (name = "Agent", description = "The AI agent switch of a conversation."),
        (name = "Blacklists", description = "Customers blocked on a channel."),
        (name = "Channels", description = "The tenant's channels and inbound ingest."),
        (name = "Customers", description = "The people a tenant talks to."),
        (name = "Account", description = "The caller's own account."),
        (name = "OAuth clients", description = "The tenant's OAuth applications (admins and owners)."),
        (name = "Members", description = "The tenant's members and their roles (admins and owners)."),
        (name = "OAuth", description = "The authorization server: /oauth/authorize (HTML pages), token, revoke, introspect.")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The access token received from the authorization server in the OAuth 2.0 flow.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "OAuth client authentication at /oauth/token, /oauth/revoke and /oauth/introspect: client_id and client_secret (RFC 6749, 2.3.1). Alternatively in the body; public clients send client_id alone.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Declares, on every operation, the answers that come from the shared machinery
/// rather than from the handler: the gate (401, 429), the tenant extractor (400,
/// 403), scope and role checks (403), path ids (404), the JSON and multipart body
/// readers (400, 413, 415, 422) and the request timeout or an unreachable database
/// (503). The rules live here, next to the routes' documents, so an operation
/// cannot forget one; a handler's own description of a status is kept.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for status in shared_statuses(path, operation) {
                    let (code, description) = status;
                    operation
                        .responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

/// The resources whose every key is in every answer, `null` when unset (the contract:
/// "every key in the seed JSON is present in every response"). utoipa marks an
/// `Option` field optional; here those keys become required (and stay nullable), so
/// generated clients and the schema fuzzer see what the server really sends. Keys
/// that are sometimes left out (a secret shown once, `errors` of a non-validation
/// error, the `page` of a `...` link) live in other schemas.
const EVERY_KEY_PRESENT: &[&str] = &[
    "AgentStatusResource",
    "BlacklistCustomer",
    "BlacklistResource",
    "ConversationCustomer",
    "ConversationResource",
    "CustomerResource",
    "InboundResult",
    "MessageResource",
    "PageLinks",
    "PageMeta",
];

struct EveryKeyPresent;

impl Modify for EveryKeyPresent {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in EVERY_KEY_PRESENT {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                object.required = object.properties.keys().cloned().collect();
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The statuses the shared machinery may answer `operation` with.
fn shared_statuses(path: &str, operation: &Operation) -> Vec<(u16, &'static str)> {
    let mut statuses = vec![(
        503,
        "The request took longer than the request timeout, or the database is unreachable",
    )];
    let gated = path.starts_with("/api/v1/") || path.starts_with("/oauth/");
    if gated {
        statuses.push((429, "Rate limited (see Retry-After)"));
    }
    let bearer_scopes: Option<Vec<String>> = operation.security.as_ref().and_then(|all| {
        let value = serde_json::to_value(all).ok()?;
        value
            .as_array()?
            .iter()
            .find_map(|requirement| requirement.get("bearer").cloned())
            .and_then(|scopes| serde_json::from_value(scopes).ok())
    });
    if let Some(scopes) = &bearer_scopes {
        statuses.push((401, "Missing, malformed, expired or revoked access token"));
        if !scopes.is_empty() {
            statuses.push((403, "The token lacks the scope, or the role is too low"));
        }
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Header && p.name == "X-Tenant")
    {
        statuses.push((400, "Missing or invalid X-Tenant header"));
        statuses.push((403, "Not a member of this tenant, or no such tenant"));
    }
    if path.starts_with("/api/v1/")
        && parameters
            .iter()
            .any(|p| p.parameter_in == ParameterIn::Path)
    {
        statuses.push((404, "No such resource in this tenant"));
    }
    let api_body = path.starts_with("/api/v1/")
        && operation.request_body.as_ref().is_some_and(|body| {
            body.content.contains_key("application/json")
                || body.content.contains_key("multipart/form-data")
        });
    if api_body {
        statuses.push((400, "Malformed body"));
        statuses.push((413, "Body larger than the limit"));
        statuses.push((415, "Body of the wrong content type"));
        statuses.push((422, "Validation failed"));
    }
    statuses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations() -> Vec<(String, String, serde_json::Value)> {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializable");
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                all.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
        all
    }

    #[test]
    fn operation_ids_are_unique() {
        // Clients and fuzzers address operations by id (OpenAPI links among them).
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, operation) in operations() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                seen.insert(id.clone()),
                "{method} {path}: {id} is used twice"
            );
        }
    }

    #[test]
    fn every_operation_declares_what_the_shared_machinery_answers() {
        for (method, path, operation) in operations() {
            let declared = |status: &str| operation["responses"].get(status).is_some();
            let what = format!("{method} {path}");
            assert!(declared("503"), "{what}: 503");
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|all| all.iter().any(|r| r.get("bearer").is_some()));
            if bearer {
                assert!(declared("401") && declared("429"), "{what}: 401, 429");
            }
            let tenant = operation["parameters"]
                .as_array()
                .is_some_and(|all| all.iter().any(|p| p["name"] == "X-Tenant"));
            if tenant {
                assert!(declared("400") && declared("403"), "{what}: 400, 403");
            }
            if operation["requestBody"]["content"]
                .get("application/json")
                .is_some()
                && path.starts_with("/api/v1/")
            {
                for status in ["400", "413", "415", "422"] {
                    assert!(declared(status), "{what}: {status}");
                }
            }
            if path.contains('{') && path.starts_with("/api/v1/") {
                assert!(declared("404"), "{what}: 404");
            }
        }
    }
}
