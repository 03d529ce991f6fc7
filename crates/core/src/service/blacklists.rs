//! Channel blacklists: who may not reach the business on a channel, and until when.

use super::ServiceError;
use crate::clock::Clock;
use crate::model::*;
use crate::store::Store;
use crate::validation::{Input, ValidationErrors, Validator};
use chrono::Duration;
use std::sync::Arc;

pub const NOTE_MAX: usize = 1000;
/// Ten years: longer is "permanent", which is spelled `null`.
pub const MAX_TTL_SECONDS: i64 = 10 * 365 * 24 * 3600;

#[derive(Clone)]
pub struct Blacklists {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Blacklists {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn create(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<BlacklistEntry, ServiceError> {
        let mut v = Validator::new(input);
        let channel_id = v.required_integer("channel_id", Some(1), None);
        let customer_id = v.required_integer("customer_id", Some(1), None);
        let reason = v.required_enum::<BlacklistReason>("reason");
        let ttl = v.optional_integer("ttl_seconds", Some(1), Some(MAX_TTL_SECONDS));
        let note = v.optional_string("note", NOTE_MAX);
        let metadata = v.optional_json_container("metadata");
        v.finish()?;
        let (Some(channel_id), Some(customer_id), Some(reason)) = (channel_id, customer_id, reason)
        else {
            return Err(ValidationErrors::single("reason", "The reason field is required.").into());
        };
        let now = self.clock.now();
        let entry = NewBlacklist {
            channel_id,
            customer_id,
            reason,
            note,
            metadata: metadata.unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
            expires_at: ttl.map(|s| now + Duration::seconds(s)),
        };
        self.store
            .create_blacklist(tenant, entry, now)
            .await?
            .map_err(|e| blacklist_error(e).into())
    }

    pub async fn update(
        &self,
        tenant: TenantId,
        id: i64,
        input: &Input,
    ) -> Result<BlacklistEntry, ServiceError> {
        let mut v = Validator::new(input);
        let reason = v.optional_enum::<BlacklistReason>("reason");
        let note = v.optional_string("note", NOTE_MAX);
        let expires_at = v.optional_datetime("expires_at");
        let is_active = v.optional_bool("is_active");
        let metadata = v.optional_json_container("metadata");
        let patch = BlacklistPatch {
            reason,
            note: v.is_present("note").then_some(note),
            expires_at: v.is_present("expires_at").then_some(expires_at),
            is_active,
            metadata,
        };
        v.finish()?;
        match self
            .store
            .update_blacklist(tenant, id, patch, self.clock.now())
            .await?
        {
            None => Err(ServiceError::NotFound),
            Some(Ok(entry)) => Ok(entry),
            Some(Err(e)) => Err(blacklist_error(e).into()),
        }
    }

    pub async fn get(&self, tenant: TenantId, id: i64) -> Result<BlacklistEntry, ServiceError> {
        self.store
            .get_blacklist(tenant, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn delete(&self, tenant: TenantId, id: i64) -> Result<BlacklistEntry, ServiceError> {
        self.store
            .delete_blacklist(tenant, id, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<
        (
            PageOf<BlacklistEntry>,
            PageRequest,
            Vec<(&'static str, String)>,
        ),
        ServiceError,
    > {
        let mut v = Validator::new(input);
        let channel_id = v.optional_integer("channel_id", Some(1), None);
        let customer_id = v.optional_integer("customer_id", Some(1), None);
        let active = v.optional_bool("active");
        let page = super::page_params(&mut v);
        v.finish()?;
        let mut kept = Vec::new();
        if input.get("per_page").is_some() {
            kept.push(("per_page", page.per_page.to_string()));
        }
        if let Some(c) = channel_id {
            kept.push(("channel_id", c.to_string()));
        }
        if let Some(c) = customer_id {
            kept.push(("customer_id", c.to_string()));
        }
        if let Some(a) = active {
            kept.push(("active", if a { "1" } else { "0" }.to_string()));
        }
        let filter = BlacklistFilter {
            channel_id,
            customer_id,
            active,
        };
        let entries = self
            .store
            .list_blacklists(tenant, filter, page, self.clock.now())
            .await?;
        Ok((entries, page, kept))
    }
}

fn blacklist_error(e: BlacklistError) -> ValidationErrors {
    match e {
        BlacklistError::UnknownChannel => {
            ValidationErrors::single("channel_id", "The selected channel id is invalid.")
        }
        BlacklistError::UnknownCustomer => {
            ValidationErrors::single("customer_id", "The selected customer id is invalid.")
        }
        BlacklistError::AlreadyBlocked => ValidationErrors::single(
            "customer_id",
            "The customer is already blocked on this channel.",
        ),
    }
}
