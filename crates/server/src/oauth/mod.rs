//! The authorization server's rules, apart from HTTP: scopes, client registration,
//! the token check cache and login throttling. The pages and endpoints are in
//! `http::oauth`.

pub mod cache;
pub mod clients;
pub mod scopes;
pub mod throttle;
