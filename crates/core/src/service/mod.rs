//! Use cases on top of a `Store`: input validation with the contract's messages,
//! normalisation, then one store call. The HTTP layer only translates.

use crate::address;
use crate::clock::Clock;
use crate::model::*;
use crate::search::SearchPattern;
use crate::store::{Store, StoreError};
use crate::validation::{Input, ValidationErrors, Validator};
use std::sync::Arc;

mod blacklists;
mod channels;
mod customers;
mod files;
mod inbound;
mod messages;

pub use blacklists::Blacklists;
pub use channels::{Channels, NewChannelInput};
pub use customers::Customers;
pub use files::{MediaFiles, SweepReport};
pub use inbound::Inbound;
pub use messages::{Actor, AgentStatus, Messages, SendRequest};

/// `per_page` (1..100, default 15) and `page` (>= 1, default 1) of a list.
pub fn page_params(v: &mut Validator<'_>) -> PageRequest {
    let per_page = v.optional_integer("per_page", Some(1), Some(MAX_PER_PAGE));
    let page = v.optional_integer("page", Some(1), None);
    PageRequest {
        page: page.unwrap_or(1),
        per_page: per_page.unwrap_or(DEFAULT_PER_PAGE),
    }
}

pub const NAME_MAX: usize = 255;
pub const SEARCH_MAX: usize = 255;
pub const DEFAULT_PER_PAGE: i64 = 15;
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("not found")]
    NotFound,
    /// The request conflicts with the resource's state (e.g. an Idempotency-Key used
    /// for another request); the text says how.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file store could not take or give bytes.
    #[error("file store: {0}")]
    Files(std::io::Error),
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Validation(errors)
    }
}

/// Validated list parameters, kept so that pagination links can repeat them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationListParams {
    pub page: PageRequest,
    /// Whether `per_page` was given (links repeat only what the client sent).
    pub per_page_given: bool,
    pub search: Option<String>,
    pub channel_type: Option<ChannelType>,
}

#[derive(Clone)]
pub struct Conversations {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Conversations {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// `POST /api/v1/conversations`.
    pub async fn create(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<Created<Conversation>, ServiceError> {
        let mut v = Validator::new(input);
        let channel = match v.required_integer("channel_id", Some(1), None) {
            Some(id) => {
                let channel = self.store.get_channel(tenant, id).await?;
                if channel.is_none() {
                    v.fail("channel_id", "The selected channel id is invalid.");
                }
                channel
            }
            None => None,
        };
        let raw_address = v.required_string("address", address::MAX_ADDRESS_LEN);
        let address = match (&channel, raw_address) {
            (Some(channel), Some(raw)) => match address::normalize(channel.channel_type, &raw) {
                Ok(normalized) => Some(normalized),
                Err(e) => {
                    v.fail("address", e.message());
                    None
                }
            },
            _ => None,
        };
        let first_name = v.optional_string("first_name", NAME_MAX);
        let last_name = v.optional_string("last_name", NAME_MAX);
        v.finish()?;
        let (Some(channel), Some(address)) = (channel, address) else {
            // Unreachable: both are set whenever validation passed.
            return Err(ValidationErrors::single(
                "channel_id",
                "The selected channel id is invalid.",
            )
            .into());
        };
        let new = NewConversation {
            channel_id: channel.id,
            address,
            first_name,
            last_name,
        };
        Ok(self
            .store
            .create_conversation(tenant, new, self.clock.now())
            .await?)
    }

    /// `GET /api/v1/conversations`.
    pub async fn list(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<(PageOf<Conversation>, ConversationListParams), ServiceError> {
        let params = Self::list_params(input)?;
        let filter = ConversationFilter {
            channel_type: params.channel_type,
            search: params.search.as_deref().and_then(SearchPattern::parse),
        };
        let page = self
            .store
            .list_conversations(tenant, &filter, params.page, self.clock.now())
            .await?;
        Ok((page, params))
    }

    pub fn list_params(input: &Input) -> Result<ConversationListParams, ValidationErrors> {
        let mut v = Validator::new(input);
        let per_page = v.optional_integer("per_page", Some(1), Some(MAX_PER_PAGE));
        let page = v.optional_integer("page", Some(1), None);
        let search = v.optional_string("search", SEARCH_MAX);
        let channel_type = v.optional_enum::<ChannelType>("channel_type");
        v.finish()?;
        Ok(ConversationListParams {
            page: PageRequest {
                page: page.unwrap_or(1),
                per_page: per_page.unwrap_or(DEFAULT_PER_PAGE),
            },
            per_page_given: per_page.is_some(),
            search,
            channel_type,
        })
    }

    pub async fn get(&self, tenant: TenantId, id: i64) -> Result<Conversation, ServiceError> {
        self.store
            .get_conversation(tenant, id, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(query: &str) -> Vec<(String, String)> {
        match Conversations::list_params(&Input::from_query(query)) {
            Ok(_) => vec![],
            Err(e) => e
                .fields()
                .map(|(f, m)| (f.to_string(), m[0].clone()))
                .collect(),
        }
    }

    #[test]
    fn list_defaults() {
        let p = Conversations::list_params(&Input::from_json(json!({}))).unwrap();
        assert_eq!(
            p.page,
            PageRequest {
                page: 1,
                per_page: 15
            }
        );
        assert!(!p.per_page_given);
        assert_eq!(p.search, None);
        assert_eq!(p.channel_type, None);
    }

    #[test]
    fn list_rejects_out_of_range_and_ill_typed_values() {
        assert_eq!(
            errors_of("per_page=0")[0].1,
            "The per page field must be at least 1."
        );
        assert_eq!(
            errors_of("per_page=101")[0].1,
            "The per page field must not be greater than 100."
        );
        assert_eq!(
            errors_of("per_page=abc")[0].1,
            "The per page field must be an integer."
        );
        assert_eq!(
            errors_of("page=0")[0].1,
            "The page field must be at least 1."
        );
        assert_eq!(
            errors_of("page=1.5")[0].1,
            "The page field must be an integer."
        );
        assert_eq!(
            errors_of("channel_type=sms")[0].1,
            "The selected channel type is invalid."
        );
        assert_eq!(
            errors_of("search[]=x")[0].1,
            "The search field must be a string."
        );
        let long = "a".repeat(256);
        assert_eq!(
            errors_of(&format!("search={long}"))[0].1,
            "The search field must not be greater than 255 characters."
        );
        assert!(errors_of("per_page=100&page=99999&channel_type=telegram&search=x").is_empty());
    }
}
