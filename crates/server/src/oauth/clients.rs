//! Registering OAuth clients: the rules shared by `switchboard client create` and
//! `POST /api/v1/oauth/clients`.

use super::scopes;
use crate::credentials::{new_client_id, new_secret, secret_hash, CLIENT_SECRET_PREFIX};
use switchboard_core::auth_store::{NewOAuthClient, OAuthClient};
use switchboard_core::store::StoreResult;
use switchboard_core::{Clock, Store, StoreError, TenantId};

pub const NAME_MAX: usize = 255;
pub const REDIRECT_URI_MAX: usize = 2000;
pub const MAX_REDIRECT_URIS: usize = 20;

/// What a registration asks for, before validation.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub scopes: Vec<String>,
}

/// A validation failure: the field and its message.
pub type Invalid = (&'static str, String);

/// Whether `uri` may be registered as a redirect URI: an absolute URI without a
/// fragment or credentials, that is `https`, `http` on a loopback host (RFC 8252
/// native apps), or a private-use scheme in reverse-domain form (`com.example.app:`).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > REDIRECT_URI_MAX {
        return Err(format!(
            "The redirect uri must not be greater than {REDIRECT_URI_MAX} characters."
        ));
    }
    let parsed = url::Url::parse(uri).map_err(|_| "The redirect uri must be an absolute URI.")?;
    if parsed.fragment().is_some() {
        return Err("The redirect uri must not contain a fragment.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("The redirect uri must not contain credentials.".into());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("The redirect uri must use https (http only for localhost).".into()),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(
            "The redirect uri must use https, http on localhost, or a reverse-domain app scheme."
                .into(),
        ),
    }
}

/// Checks a registration; messages in the API's (Laravel) style.
pub fn validate(spec: &ClientSpec) -> Result<(), Vec<Invalid>> {
    let mut errors = Vec::new();
    let name = spec.name.trim();
    if name.is_empty() {
        errors.push(("name", "The name field is required.".to_string()));
    } else if name.chars().count() > NAME_MAX {
        errors.push((
            "name",
            format!("The name field must not be greater than {NAME_MAX} characters."),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push((
            "name",
            "The name field must not contain control characters.".to_string(),
        ));
    }
    // A confidential client may be for client credentials alone, which redirect
    // nowhere; a public client has only the authorization-code flow.
    if spec.redirect_uris.is_empty() && spec.public {
        errors.push((
            "redirect_uris",
            "The redirect uris field is required for a public client.".to_string(),
        ));
    } else if spec.redirect_uris.len() > MAX_REDIRECT_URIS {
        errors.push((
            "redirect_uris",
            format!("The redirect uris field must not have more than {MAX_REDIRECT_URIS} items."),
        ));
    } else if let Some(message) = spec
        .redirect_uris
        .iter()
        .find_map(|u| check_redirect_uri(u).err())
    {
        errors.push(("redirect_uris", message));
    }
    if spec.scopes.is_empty() {
        errors.push(("scopes", "The scopes field is required.".to_string()));
    } else if let Some(unknown) = spec.scopes.iter().find(|s| !scopes::is_known(s)) {
        errors.push((
            "scopes",
            format!("The scope {unknown:?} is not a known scope."),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Why a registration failed.
#[derive(Debug)]
pub enum RegisterError {
    Invalid(Vec<Invalid>),
    Store(StoreError),
}

impl From<StoreError> for RegisterError {
    fn from(e: StoreError) -> Self {
        RegisterError::Store(e)
    }
}

/// Longer than any client id `new_client_id` makes (`sbcl_` and 22 characters).
pub const CLIENT_ID_MAX: usize = 100;

/// The live client with this public id. What cannot be a stored id (a NUL, an
/// absurd length) is no client, without asking the store: every lookup of an id
/// from a request goes through here.
pub async fn find_client(store: &dyn Store, client_id: &str) -> StoreResult<Option<OAuthClient>> {
    if client_id.len() > CLIENT_ID_MAX || !super::storable(client_id) {
        return Ok(None);
    }
    store.find_oauth_client(client_id).await
}

/// Validates and stores the client; returns it and, for a confidential client, its
/// secret (shown once: only its hash is kept).
pub async fn register(
    store: &dyn Store,
    clock: &dyn Clock,
    tenant: TenantId,
    spec: ClientSpec,
) -> Result<(OAuthClient, Option<String>), RegisterError> {
    validate(&spec).map_err(RegisterError::Invalid)?;
    let secret = (!spec.public).then(|| new_secret(CLIENT_SECRET_PREFIX));
    let mut redirect_uris: Vec<String> = Vec::new();
    for uri in spec.redirect_uris {
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    let mut client_scopes: Vec<String> = Vec::new();
    for s in spec.scopes {
        if !client_scopes.contains(&s) {
            client_scopes.push(s);
        }
    }
    let client = store
        .create_oauth_client(
            NewOAuthClient {
                tenant_id: tenant,
                client_id: new_client_id(),
                name: spec.name.trim().to_string(),
                secret_hash: secret.as_deref().map(secret_hash),
                redirect_uris,
                scopes: client_scopes,
            },
            clock.now(),
        )
        .await?;
    Ok((client, secret))
}

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8000/callback",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://app.example.com/callback",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/relative",
            "http://10.0.0.1/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
