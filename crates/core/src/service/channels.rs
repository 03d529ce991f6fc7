//! Channels: the business's own WhatsApp numbers, Instagram accounts, website chats
//! and Telegram bots.

use super::ServiceError;
use crate::clock::Clock;
use crate::model::*;
use crate::store::Store;
use crate::validation::{Input, ValidationErrors, Validator};
use std::sync::Arc;

pub const CHANNEL_TEXT_MAX: usize = 255;

/// A validated channel to create; the caller adds the secret's hash.
#[derive(Debug, Clone)]
pub struct NewChannelInput {
    pub channel_type: ChannelType,
    pub name: String,
    pub address: String,
    pub settings: serde_json::Value,
}

#[derive(Clone)]
pub struct Channels {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Channels {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn validate_new(input: &Input) -> Result<NewChannelInput, ValidationErrors> {
        let mut v = Validator::new(input);
        let channel_type = v.required_enum::<ChannelType>("type");
        let name = v.required_string("name", CHANNEL_TEXT_MAX);
        let address = v.required_string("address", CHANNEL_TEXT_MAX);
        let settings = settings(&mut v);
        v.finish()?;
        match (channel_type, name, address) {
            (Some(channel_type), Some(name), Some(address)) => Ok(NewChannelInput {
                channel_type,
                name,
                address,
                settings: settings.unwrap_or_else(|| serde_json::json!({})),
            }),
            _ => Err(ValidationErrors::single(
                "type",
                "The type field is required.",
            )),
        }
    }

    /// Creates the channel; `secret_hash` is the SHA-256 of its inbound secret.
    pub async fn create(
        &self,
        tenant: TenantId,
        new: NewChannelInput,
        secret_hash: String,
    ) -> Result<ChannelRecord, ServiceError> {
        let now = self.clock.now();
        let channel = self
            .store
            .create_channel(
                tenant,
                NewChannel {
                    channel_type: new.channel_type,
                    name: new.name,
                    address: new.address,
                    inbound_secret_hash: secret_hash,
                },
                now,
            )
            .await?;
        let patch = ChannelPatch {
            settings: Some(new.settings),
            ..ChannelPatch::default()
        };
        self.store
            .update_channel(tenant, channel.id, patch, now)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn update(
        &self,
        tenant: TenantId,
        id: i64,
        input: &Input,
    ) -> Result<ChannelRecord, ServiceError> {
        let mut v = Validator::new(input);
        let current = self.get(tenant, id).await?;
        if let Some(t) = v.optional_enum::<ChannelType>("type") {
            if t != current.channel.channel_type {
                v.fail("type", "The type field cannot be changed.");
            }
        }
        let name = v.optional_string("name", CHANNEL_TEXT_MAX);
        let address = v.optional_string("address", CHANNEL_TEXT_MAX);
        let settings = settings(&mut v);
        v.finish()?;
        let patch = ChannelPatch {
            name,
            address,
            settings,
        };
        self.store
            .update_channel(tenant, id, patch, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn get(&self, tenant: TenantId, id: i64) -> Result<ChannelRecord, ServiceError> {
        self.store
            .get_channel_record(tenant, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn delete(&self, tenant: TenantId, id: i64) -> Result<(), ServiceError> {
        if self
            .store
            .delete_channel(tenant, id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    pub async fn rotate_secret(
        &self,
        tenant: TenantId,
        id: i64,
        secret_hash: &str,
    ) -> Result<(), ServiceError> {
        if self
            .store
            .set_channel_secret(tenant, id, secret_hash, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<(PageOf<ChannelRecord>, PageRequest, bool), ServiceError> {
        let mut v = Validator::new(input);
        let page = super::page_params(&mut v);
        v.finish()?;
        Ok((
            self.store.list_channels(tenant, page).await?,
            page,
            input.get("per_page").is_some(),
        ))
    }
}

fn settings(v: &mut Validator<'_>) -> Option<serde_json::Value> {
    let value = v.optional_json_container("settings")?;
    if value.is_object() {
        Some(value)
    } else {
        v.fail("settings", "The settings field must be an object.");
        None
    }
}
