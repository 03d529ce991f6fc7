//! Inbound ingest: customer messages pushed by channel connectors.

use super::ServiceError;
use crate::address;
use crate::clock::Clock;
use crate::model::*;
use crate::store::Store;
use crate::validation::{Input, Validator};
use std::sync::Arc;

pub const EXTERNAL_ID_MAX: usize = 255;
pub const INBOUND_TYPES: &[&str] = &[
    "text", "image", "audio", "video", "document", "location", "sticker",
];

#[derive(Clone)]
pub struct Inbound {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Inbound {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Validates and stores one inbound message on `channel` (already authenticated).
    pub async fn ingest(
        &self,
        channel: &Channel,
        input: &Input,
    ) -> Result<IngestOutcome, ServiceError> {
        let mut v = Validator::new(input);
        let raw_address = v.required_string("address", address::MAX_ADDRESS_LEN);
        let address =
            raw_address.and_then(|raw| match address::normalize(channel.channel_type, &raw) {
                Ok(a) => Some(a),
                Err(e) => {
                    v.fail("address", e.message());
                    None
                }
            });
        let message_type = match v.optional_string("message_type", 32) {
            Some(t) if INBOUND_TYPES.contains(&t.as_str()) => t,
            Some(_) => {
                v.fail("message_type", "The selected message type is invalid.");
                String::new()
            }
            None => "text".to_string(),
        };
        let body = if message_type == "text" {
            v.required_string("message", super::messages::MESSAGE_MAX)
        } else {
            v.optional_string("message", super::messages::MESSAGE_MAX)
        };
        let external_id = v.optional_string("external_id", EXTERNAL_ID_MAX);
        let first_name = v.optional_string("first_name", super::NAME_MAX);
        let last_name = v.optional_string("last_name", super::NAME_MAX);
        let sent_at = v.optional_datetime("sent_at");
        v.finish()?;
        let now = self.clock.now();
        let message = InboundMessage {
            address: address.unwrap_or_default(),
            body,
            message_type,
            external_id,
            first_name,
            last_name,
            // A connector's clock running ahead must not push messages into the future.
            sent_at: sent_at.map_or(now, |t| t.min(now)),
        };
        Ok(self.store.ingest(channel, message, now).await?)
    }
}
