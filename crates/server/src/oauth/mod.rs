//! The authorization server's rules, apart from HTTP: scopes, client registration,
//! the token check cache and login throttling. The pages and endpoints are in
//! `http::oauth`.

pub mod cache;
pub mod clients;
pub mod scopes;
pub mod throttle;

/// Whether `text` could equal a stored value at all. PostgreSQL cannot hold NUL in
/// text (it refuses a query that binds one, rather than matching nothing), so a
/// value with a NUL is known to match no client id, e-mail or token and must not be
/// sent to the store. Tokens, codes and secrets are looked up by their hash and need
/// no check; identifiers that are looked up as sent do.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}
