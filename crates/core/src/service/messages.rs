//! Messages of a conversation, the read marker and the AI agent switch.

use super::ServiceError;
use crate::clock::Clock;
use crate::model::*;
use crate::store::{Store, StoreError};
use crate::validation::{Input, ValidationErrors, Validator};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

pub const MESSAGE_MAX: usize = 5000;
pub const MAX_DISABLE_MINUTES: i64 = 525_600;

/// Who acts through the API: a user, or an OAuth client acting for itself
/// (client_credentials), which has a name but no user.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub name: String,
}

/// A validated send: text, or a file with an optional caption.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub body: Option<String>,
    pub quoted_message_id: Option<i64>,
    pub message_type: String,
    pub file: Option<FileRef>,
}

/// The agent switch as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    pub switch: AgentSwitch,
    /// Whole minutes left (rounded up) of a timed disable.
    pub remaining_minutes: Option<i64>,
}

#[derive(Clone)]
pub struct Messages {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Messages {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        input: &Input,
    ) -> Result<(PageOf<Message>, PageRequest, bool), ServiceError> {
        let mut v = Validator::new(input);
        let page = super::page_params(&mut v);
        let per_page_given = input.get("per_page").is_some();
        v.finish()?;
        let messages = self
            .store
            .list_messages(tenant, conversation_id, page)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok((messages, page, per_page_given))
    }

    /// Validates `message` and `quoted_message_id` of a text send.
    pub async fn text_request(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        input: &Input,
    ) -> Result<SendRequest, ServiceError> {
        let mut v = Validator::new(input);
        let body = v.required_string("message", MESSAGE_MAX);
        let quoted = self.quoted(&mut v, tenant, conversation_id).await?;
        v.finish()?;
        Ok(SendRequest {
            body,
            quoted_message_id: quoted,
            message_type: "text".to_string(),
            file: None,
        })
    }

    /// Validates the caption of a media send (the file is checked by the caller).
    pub fn caption(input: &Input) -> Result<Option<String>, ValidationErrors> {
        let mut v = Validator::new(input);
        let caption = v.optional_string("message", MESSAGE_MAX);
        v.finish()?;
        Ok(caption)
    }

    async fn quoted(
        &self,
        v: &mut Validator<'_>,
        tenant: TenantId,
        conversation_id: i64,
    ) -> Result<Option<i64>, ServiceError> {
        let Some(id) = v.optional_integer("quoted_message_id", Some(1), None) else {
            return Ok(None);
        };
        if self
            .store
            .get_message(tenant, conversation_id, id)
            .await?
            .is_none()
        {
            v.fail(
                "quoted_message_id",
                "The selected quoted message id is invalid.",
            );
            return Ok(None);
        }
        Ok(Some(id))
    }

    /// Stores an outbound message (queued for its channel). With an idempotency key,
    /// a repeat returns the first message and `replayed = true`.
    pub async fn send(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        actor: &Actor,
        request: SendRequest,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(Message, bool), ServiceError> {
        let outbound = OutboundMessage {
            user_id: actor.user_id,
            user_name: actor.name.clone(),
            message_type: request.message_type,
            body: request.body,
            quoted_message_id: request.quoted_message_id,
            file: request.file,
        };
        let outcome = self
            .store
            .send_message(
                tenant,
                conversation_id,
                outbound,
                idempotency_key,
                self.clock.now(),
            )
            .await
            .map_err(not_found_as_404)?;
        match outcome {
            SendOutcome::Sent(m) => Ok((m, false)),
            SendOutcome::Replayed(m) => Ok((m, true)),
            SendOutcome::KeyReused => Err(ServiceError::Conflict(
                "This Idempotency-Key was already used for a different request.".to_string(),
            )),
        }
    }

    pub async fn edit(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message_id: i64,
        actor: &Actor,
        input: &Input,
    ) -> Result<Message, ServiceError> {
        let mut v = Validator::new(input);
        let body = v.required_string("message", MESSAGE_MAX);
        v.finish()?;
        let body = body.unwrap_or_default();
        let result = self
            .store
            .edit_message(
                tenant,
                conversation_id,
                message_id,
                &body,
                &actor.name,
                self.clock.now(),
            )
            .await?;
        change_result(result, "edited")
    }

    pub async fn delete(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        message_id: i64,
        actor: &Actor,
    ) -> Result<Message, ServiceError> {
        let result = self
            .store
            .delete_message(
                tenant,
                conversation_id,
                message_id,
                &actor.name,
                self.clock.now(),
            )
            .await?;
        change_result(result, "deleted")
    }

    pub async fn mark_read(
        &self,
        tenant: TenantId,
        conversation_id: i64,
    ) -> Result<(), ServiceError> {
        if self
            .store
            .mark_read(tenant, conversation_id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    pub async fn agent_status(
        &self,
        tenant: TenantId,
        conversation_id: i64,
    ) -> Result<AgentStatus, ServiceError> {
        let now = self.clock.now();
        let conversation = self
            .store
            .get_conversation(tenant, conversation_id, now)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(agent_status(&conversation.agent, now))
    }

    /// Disables the agent for `duration_minutes` (1..525600), or until enabled when null.
    pub async fn disable_agent(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        actor: &Actor,
        input: &Input,
    ) -> Result<AgentStatus, ServiceError> {
        let mut v = Validator::new(input);
        let minutes = v.optional_integer("duration_minutes", Some(1), Some(MAX_DISABLE_MINUTES));
        v.finish()?;
        let now = self.clock.now();
        let switch = AgentSwitch {
            disabled: true,
            expires_at: minutes.map(|m| now + Duration::minutes(m)),
            disabled_by_user_name: Some(actor.name.clone()),
        };
        self.set_agent(tenant, conversation_id, switch, actor.user_id, now)
            .await
    }

    pub async fn enable_agent(
        &self,
        tenant: TenantId,
        conversation_id: i64,
    ) -> Result<AgentStatus, ServiceError> {
        let now = self.clock.now();
        self.set_agent(tenant, conversation_id, AgentSwitch::default(), None, now)
            .await
    }

    async fn set_agent(
        &self,
        tenant: TenantId,
        conversation_id: i64,
        switch: AgentSwitch,
        by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<AgentStatus, ServiceError> {
        if !self
            .store
            .set_agent(tenant, conversation_id, switch.clone(), by, now)
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(agent_status(&switch, now))
    }
}

/// The switch as readers see it at `now`, with the minutes left of a timed disable.
pub fn agent_status(switch: &AgentSwitch, now: DateTime<Utc>) -> AgentStatus {
    let switch = switch.effective_at(now);
    let remaining_minutes = switch
        .expires_at
        .map(|exp| ((exp - now).num_seconds() + 59) / 60);
    AgentStatus {
        switch,
        remaining_minutes,
    }
}

fn change_result(
    result: Result<Message, MessageChangeError>,
    verb: &str,
) -> Result<Message, ServiceError> {
    match result {
        Ok(m) => Ok(m),
        Err(MessageChangeError::NotFound) => Err(ServiceError::NotFound),
        Err(MessageChangeError::NotAgentMessage) => Err(ValidationErrors::single(
            "message",
            format!("Only agent messages can be {verb}."),
        )
        .into()),
        Err(MessageChangeError::AlreadyDeleted) => Err(ValidationErrors::single(
            "message",
            format!("A deleted message cannot be {verb}."),
        )
        .into()),
    }
}

fn not_found_as_404(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound(_) => ServiceError::NotFound,
        other => ServiceError::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_disables_read_as_enabled_and_minutes_round_up() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let switch = AgentSwitch {
            disabled: true,
            expires_at: Some(now + Duration::seconds(61)),
            disabled_by_user_name: Some("Ayşe".into()),
        };
        let status = agent_status(&switch, now);
        assert!(status.switch.disabled);
        assert_eq!(status.remaining_minutes, Some(2));
        let later = agent_status(&switch, now + Duration::seconds(61));
        assert_eq!(later.switch, AgentSwitch::default());
        assert_eq!(later.remaining_minutes, None);
        let indefinite = AgentSwitch {
            expires_at: None,
            ..switch
        };
        assert_eq!(
            agent_status(&indefinite, now + Duration::days(400)).remaining_minutes,
            None
        );
        assert!(
            agent_status(&indefinite, now + Duration::days(400))
                .switch
                .disabled
        );
    }
}
