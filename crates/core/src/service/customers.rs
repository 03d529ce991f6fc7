//! Customers: the people a tenant talks to.

use super::ServiceError;
use crate::address::normalize_phone;
use crate::clock::Clock;
use crate::model::*;
use crate::search::SearchPattern;
use crate::store::{Store, StoreError};
use crate::validation::{Input, Validator};
use std::sync::Arc;

pub const PHONE_MAX: usize = 20;
pub const AVATAR_URL_MAX: usize = 2048;

#[derive(Clone)]
pub struct Customers {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Customers {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Reads the fields that were sent; `None` values are fields not sent.
    async fn fields(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<CustomerFields, ServiceError> {
        let mut v = Validator::new(input);
        let first_name = v.optional_string("first_name", super::NAME_MAX);
        let last_name = v.optional_string("last_name", super::NAME_MAX);
        let mut phone = v.optional_string("phone_number", PHONE_MAX);
        if let Some(raw) = phone.take() {
            match normalize_phone(&raw) {
                Some(normalized) => phone = Some(normalized),
                None => v.fail(
                    "phone_number",
                    "The phone number field must be a valid phone number in international format.",
                ),
            }
        }
        let email = v.optional_email("email");
        let avatar_url = v.optional_url("avatar_url", AVATAR_URL_MAX);
        let default_channel_id = v.optional_integer("default_channel_id", Some(1), None);
        if let Some(id) = default_channel_id {
            if self.store.get_channel(tenant, id).await?.is_none() {
                v.fail(
                    "default_channel_id",
                    "The selected default channel id is invalid.",
                );
            }
        }
        let present = |field: &str| input.is_present(field);
        let fields = CustomerFields {
            first_name: present("first_name").then_some(first_name),
            last_name: present("last_name").then_some(last_name),
            phone_number: present("phone_number").then_some(phone),
            email: present("email").then_some(email),
            avatar_url: present("avatar_url").then_some(avatar_url),
            default_channel_id: present("default_channel_id").then_some(default_channel_id),
        };
        v.finish()?;
        Ok(fields)
    }

    pub async fn create(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<CustomerRecord, ServiceError> {
        let fields = self.fields(tenant, input).await?;
        Ok(self
            .store
            .create_customer(tenant, fields, self.clock.now())
            .await?)
    }

    pub async fn update(
        &self,
        tenant: TenantId,
        id: i64,
        input: &Input,
    ) -> Result<CustomerRecord, ServiceError> {
        let fields = self.fields(tenant, input).await?;
        self.store
            .update_customer(tenant, id, fields, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn get(&self, tenant: TenantId, id: i64) -> Result<CustomerRecord, ServiceError> {
        self.store
            .get_customer(tenant, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        input: &Input,
    ) -> Result<
        (
            PageOf<CustomerRecord>,
            PageRequest,
            Vec<(&'static str, String)>,
        ),
        ServiceError,
    > {
        let mut v = Validator::new(input);
        let search = v.optional_string("search", super::SEARCH_MAX);
        // The length bound only keeps absurd values out of the links; any other value
        // gets Laravel's `in` message below.
        let sort_by = v.optional_string("sort_by", 255);
        let sort_order = v.optional_string("sort_order", 255);
        let page = super::page_params(&mut v);
        let sort = match sort_by.as_deref() {
            None => None,
            Some("id") => Some(CustomerSort::Id),
            Some("first_name") => Some(CustomerSort::FirstName),
            Some("last_name") => Some(CustomerSort::LastName),
            Some("created_at") => Some(CustomerSort::CreatedAt),
            Some(_) => {
                v.fail("sort_by", "The selected sort by is invalid.");
                None
            }
        };
        let ascending = match sort_order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => {
                v.fail("sort_order", "The selected sort order is invalid.");
                false
            }
        };
        v.finish()?;
        let mut kept = Vec::new();
        for (key, value) in [
            (
                "per_page",
                input.get("per_page").map(|_| page.per_page.to_string()),
            ),
            ("search", search.clone()),
            ("sort_by", sort_by),
            ("sort_order", sort_order),
        ] {
            if let Some(value) = value {
                kept.push((key, value));
            }
        }
        let filter = CustomerFilter {
            search: search.as_deref().and_then(SearchPattern::parse),
            sort: Some((sort.unwrap_or(CustomerSort::Id), ascending)),
        };
        let customers = self
            .store
            .list_customers(tenant, &filter, page)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NotFound,
                other => other.into(),
            })?;
        Ok((customers, page, kept))
    }
}
