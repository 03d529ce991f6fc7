//! The OpenAPI document, generated from the handlers and resource types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    modifiers(&BearerAuth),
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
    }
}
