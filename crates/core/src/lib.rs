//! Switchboard's domain: types, validation, normalisation, pagination and the
//! `Store` trait that every storage backend implements. Nothing here knows about
//! HTTP or SQL, so the rules live in one place and both backends share them.

pub mod address;
pub mod auth_store;
pub mod clock;
pub mod files;
pub mod messaging_store;
pub mod model;
pub mod search;
pub mod service;
pub mod store;
pub mod validation;

pub use auth_store::AuthStore;
pub use clock::{Clock, ManualClock, SystemClock};
pub use messaging_store::MessagingStore;
pub use model::*;
pub use store::{Store, StoreError};
