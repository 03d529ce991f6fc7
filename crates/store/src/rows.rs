//! Rows as both backends return them (`FromRow` is generic over the database), and
//! their conversion into domain records.

use chrono::{DateTime, Utc};
use switchboard_core::*;

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

/// Stored instants are whole seconds, so SQLite's text timestamps sort as times.
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(0)
}

/// Begins a write transaction in a task of its own. When the caller goes away while
/// `BEGIN` is under way (a client that disconnects, a request that times out), sqlx
/// may have run the `BEGIN` without its `Transaction` ever being made: nothing rolls it
/// back, and SQLite's single writer then stays inside it, so every later write fails
/// ("attempted to call begin_with at non-zero transaction depth"; seen under the
/// benchmark's load, where wrk drops its connections at the end of each run). In a
/// task of its own the `Transaction` is always made, and if nobody waits for it any
/// more it is dropped there, which rolls it back.
pub(crate) async fn begin_whatever_the_caller_does<DB: sqlx::Database>(
    begin: impl std::future::Future<Output = Result<sqlx::Transaction<'static, DB>, sqlx::Error>>
        + Send
        + 'static,
) -> switchboard_core::store::StoreResult<sqlx::Transaction<'static, DB>> {
    match tokio::spawn(begin).await {
        Ok(begun) => begun.map_err(db_err),
        Err(e) => Err(StoreError::Database(format!(
            "beginning a transaction failed: {e}"
        ))),
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    // PostgreSQL's character_not_in_repertoire: a NUL in a text parameter. Validation
    // refuses NUL before any write; this keeps any path that missed it a 4xx.
    if matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("22021")) {
        return StoreError::Unstorable(e.to_string());
    }
    StoreError::Database(e.to_string())
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: TenantId(r.id),
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    pub tenant_id: i64,
    pub tenant_name: String,
    pub tenant_created_at: DateTime<Utc>,
    pub role: String,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            role: r.role.parse().map_err(|_| corrupt("role", &r.role))?,
            tenant: Tenant {
                id: TenantId(r.tenant_id),
                name: r.tenant_name,
                created_at: r.tenant_created_at,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccessTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<AccessTokenRow> for AccessToken {
    fn from(r: AccessTokenRow) -> Self {
        AccessToken {
            id: r.id,
            user_id: UserId(r.user_id),
            name: r.name,
            scopes: r.scopes.split_whitespace().map(str::to_string).collect(),
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    pub id: i64,
    pub tenant_id: i64,
    #[sqlx(rename = "type")]
    pub channel_type: String,
    pub name: String,
    pub address: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;
    fn try_from(r: ChannelRow) -> Result<Self, StoreError> {
        Ok(Channel {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            channel_type: parse_channel_type(&r.channel_type)?,
            name: r.name,
            address: r.address,
            created_at: r.created_at,
        })
    }
}

fn parse_channel_type(s: &str) -> Result<ChannelType, StoreError> {
    s.parse().map_err(|_| corrupt("channel type", s))
}

/// An inbound message's stored conversation (`find_inbound_key`).
#[derive(sqlx::FromRow)]
pub(crate) struct InboundKeyRow {
    pub id: i64,
    pub customer_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub blocking_id: Option<i64>,
    pub seen_message_id: Option<i64>,
}

/// A conversation with one number selected after its `CONVERSATION_COLUMNS`: the
/// search epoch a create in one statement read (`plan::create_conversation_at_once`),
/// or a list page's total (`plan::conversation_page_with_total`).
pub(crate) struct ConversationRowAnd {
    pub conversation: ConversationRow,
    pub number: i64,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for ConversationRowAnd
where
    ConversationRow: sqlx::FromRow<'r, R>,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            conversation: ConversationRow::from_row(row)?,
            number: row.try_get(CONVERSATION_COLUMN_COUNT)?,
        })
    }
}

/// Conversation columns with their channel and customer; see `CONVERSATION_COLUMNS`,
/// whose order the fields follow: rows are decoded by position (`FromRow` below).
pub(crate) struct ConversationRow {
    pub id: i64,
    pub tenant_id: i64,
    pub address: String,
    pub created_at: DateTime<Utc>,
    pub channel_id: i64,
    pub channel_name: String,
    pub channel_type: String,
    pub channel_address: String,
    pub customer_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub last_message_id: Option<i64>,
    pub last_message_preview: Option<String>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_type: Option<String>,
    pub last_message_is_customer: Option<bool>,
    pub unread_count: i64,
    pub agent_disabled: bool,
    pub agent_expires_at: Option<DateTime<Utc>>,
    pub agent_disabled_by_user_name: Option<String>,
    /// The entry blocking the customer on the channel (`CONVERSATION_BLACKLIST_JOIN`),
    /// all null when there is none.
    pub blacklist_id: Option<i64>,
    pub blacklist_reason: Option<String>,
    pub blacklist_note: Option<String>,
    pub blacklist_metadata: Option<String>,
    pub blacklist_blocked_at: Option<DateTime<Utc>>,
    pub blacklist_expires_at: Option<DateTime<Utc>>,
    pub blacklist_is_active: Option<bool>,
    pub blacklist_created_at: Option<DateTime<Utc>>,
    pub blacklist_updated_at: Option<DateTime<Utc>>,
    pub blacklist_deleted_at: Option<DateTime<Utc>>,
}

/// Decoded by position, not by name: a list page decodes some five hundred values,
/// and sqlx finds a column by name through a hash lookup for each (a sixth of the
/// server's time under the list benchmark went to decoding). And without sqlx's type
/// check per value (`try_get_unchecked`; for a text column it compares the column's
/// type with each text type in turn), which took a quarter of PostgreSQL's decoding.
/// Unchecked, a column read into the wrong field does not fail, it decodes as
/// nonsense (an `int8` read as a `bool` is its first byte): the order of the columns
/// is held by the unit test below against the field names, and the values by
/// `tests/conversation_columns.rs`, which gives every column a value of its own and
/// reads it back through every path, on both backends.
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for ConversationRow
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database>,
    bool: sqlx::Decode<'r, R::Database>,
    String: sqlx::Decode<'r, R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let mut column = 0..CONVERSATION_COLUMN_COUNT;
        let mut next = || {
            column
                .next()
                .ok_or_else(|| sqlx::Error::ColumnIndexOutOfBounds {
                    index: CONVERSATION_COLUMN_COUNT,
                    len: CONVERSATION_COLUMN_COUNT,
                })
        };
        Ok(Self {
            id: row.try_get_unchecked(next()?)?,
            tenant_id: row.try_get_unchecked(next()?)?,
            address: row.try_get_unchecked(next()?)?,
            created_at: row.try_get_unchecked(next()?)?,
            channel_id: row.try_get_unchecked(next()?)?,
            channel_name: row.try_get_unchecked(next()?)?,
            channel_type: row.try_get_unchecked(next()?)?,
            channel_address: row.try_get_unchecked(next()?)?,
            customer_id: row.try_get_unchecked(next()?)?,
            first_name: row.try_get_unchecked(next()?)?,
            last_name: row.try_get_unchecked(next()?)?,
            phone_number: row.try_get_unchecked(next()?)?,
            email: row.try_get_unchecked(next()?)?,
            avatar_url: row.try_get_unchecked(next()?)?,
            last_message_id: row.try_get_unchecked(next()?)?,
            last_message_preview: row.try_get_unchecked(next()?)?,
            last_message_at: row.try_get_unchecked(next()?)?,
            last_message_type: row.try_get_unchecked(next()?)?,
            last_message_is_customer: row.try_get_unchecked(next()?)?,
            unread_count: row.try_get_unchecked(next()?)?,
            agent_disabled: row.try_get_unchecked(next()?)?,
            agent_expires_at: row.try_get_unchecked(next()?)?,
            agent_disabled_by_user_name: row.try_get_unchecked(next()?)?,
            blacklist_id: row.try_get_unchecked(next()?)?,
            blacklist_reason: row.try_get_unchecked(next()?)?,
            blacklist_note: row.try_get_unchecked(next()?)?,
            blacklist_metadata: row.try_get_unchecked(next()?)?,
            blacklist_blocked_at: row.try_get_unchecked(next()?)?,
            blacklist_expires_at: row.try_get_unchecked(next()?)?,
            blacklist_is_active: row.try_get_unchecked(next()?)?,
            blacklist_created_at: row.try_get_unchecked(next()?)?,
            blacklist_updated_at: row.try_get_unchecked(next()?)?,
            blacklist_deleted_at: row.try_get_unchecked(next()?)?,
        })
    }
}

/// How many columns `CONVERSATION_COLUMNS` has; a column selected after them is at
/// this position.
pub(crate) const CONVERSATION_COLUMN_COUNT: usize = 33;

pub(crate) const CONVERSATION_COLUMNS: &str = "\
    c.id, c.tenant_id, c.address, c.created_at, \
    ch.id AS channel_id, ch.name AS channel_name, ch.type AS channel_type, ch.address AS channel_address, \
    cu.id AS customer_id, cu.first_name, cu.last_name, cu.phone_number, cu.email, cu.avatar_url, \
    c.last_message_id, c.last_message_preview, c.last_message_at, c.last_message_type, \
    c.last_message_is_customer, c.unread_count, \
    c.agent_disabled, c.agent_expires_at, c.agent_disabled_by_user_name, \
    b.id AS blacklist_id, b.reason AS blacklist_reason, b.note AS blacklist_note, \
    b.metadata AS blacklist_metadata, b.blocked_at AS blacklist_blocked_at, \
    b.expires_at AS blacklist_expires_at, b.is_active AS blacklist_is_active, \
    b.created_at AS blacklist_created_at, b.updated_at AS blacklist_updated_at, \
    b.deleted_at AS blacklist_deleted_at";

/// Joins that complete a conversation row; `c` must already be in scope, and the
/// `CONVERSATION_BLACKLIST_JOIN` must follow.
pub(crate) const CONVERSATION_JOINS: &str = "\
    JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id \
    JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id";

/// The blacklist entry that blocks the conversation's customer on its channel at the
/// time bound next (`expires_at > $n`): at most one, by the `channel_blacklists_one_active`
/// unique index, so the join never multiplies a conversation.
pub(crate) const CONVERSATION_BLACKLIST_JOIN: &str = "\
    LEFT JOIN channel_blacklists b ON b.tenant_id = c.tenant_id AND b.channel_id = c.channel_id \
    AND b.customer_id = c.customer_id AND b.deleted_at IS NULL AND b.is_active \
    AND (b.expires_at IS NULL OR b.expires_at > ";

impl ConversationRow {
    pub fn into_conversation(self) -> Result<Conversation, StoreError> {
        let channel = ChannelSummary {
            id: self.channel_id,
            name: self.channel_name,
            channel_type: parse_channel_type(&self.channel_type)?,
            address: self.channel_address,
        };
        let customer = Customer {
            id: self.customer_id,
            first_name: self.first_name,
            last_name: self.last_name,
            phone_number: self.phone_number,
            email: self.email,
            avatar_url: self.avatar_url,
        };
        let blacklist = match (
            self.blacklist_id,
            self.blacklist_reason,
            self.blacklist_blocked_at,
            self.blacklist_created_at,
            self.blacklist_updated_at,
        ) {
            (Some(id), Some(reason), Some(blocked_at), Some(created_at), Some(updated_at)) => {
                let metadata = self.blacklist_metadata.unwrap_or_else(|| "{}".to_string());
                Some(BlacklistEntry {
                    id,
                    tenant_id: TenantId(self.tenant_id),
                    reason: reason
                        .parse()
                        .map_err(|_| corrupt("blacklist reason", &reason))?,
                    note: self.blacklist_note,
                    metadata: serde_json::from_str(&metadata)
                        .map_err(|_| corrupt("metadata", &metadata))?,
                    blocked_at,
                    expires_at: self.blacklist_expires_at,
                    is_active: self.blacklist_is_active.unwrap_or(true),
                    created_at,
                    updated_at,
                    deleted_at: self.blacklist_deleted_at,
                    channel: channel.clone(),
                    customer: customer.clone(),
                })
            }
            _ => None,
        };
        let last_message = match (self.last_message_id, self.last_message_at) {
            (Some(id), Some(at)) => Some(LastMessage {
                id,
                preview: self.last_message_preview,
                at,
                message_type: self.last_message_type.unwrap_or_else(|| "text".to_string()),
                is_customer: self.last_message_is_customer.unwrap_or(false),
            }),
            _ => None,
        };
        Ok(Conversation {
            id: self.id,
            tenant_id: TenantId(self.tenant_id),
            address: self.address,
            customer,
            channel,
            last_message,
            unread_count: self.unread_count,
            agent: AgentSwitch {
                disabled: self.agent_disabled,
                expires_at: self.agent_expires_at,
                disabled_by_user_name: self.agent_disabled_by_user_name,
            },
            blacklist,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BlacklistRow {
    pub id: i64,
    pub tenant_id: i64,
    pub reason: String,
    pub note: Option<String>,
    pub metadata: String,
    pub blocked_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub channel_id: i64,
    pub channel_name: String,
    pub channel_type: String,
    pub channel_address: String,
    pub customer_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

pub(crate) const BLACKLIST_COLUMNS: &str = "\
    b.id, b.tenant_id, b.reason, b.note, b.metadata, b.blocked_at, b.expires_at, b.is_active, \
    b.created_at, b.updated_at, b.deleted_at, \
    ch.id AS channel_id, ch.name AS channel_name, ch.type AS channel_type, ch.address AS channel_address, \
    cu.id AS customer_id, cu.first_name, cu.last_name, cu.phone_number, cu.email, cu.avatar_url";

pub(crate) const BLACKLIST_JOINS: &str = "\
    JOIN channels ch ON ch.tenant_id = b.tenant_id AND ch.id = b.channel_id \
    JOIN customers cu ON cu.tenant_id = b.tenant_id AND cu.id = b.customer_id";

impl TryFrom<BlacklistRow> for BlacklistEntry {
    type Error = StoreError;
    fn try_from(r: BlacklistRow) -> Result<Self, StoreError> {
        Ok(BlacklistEntry {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            reason: r
                .reason
                .parse()
                .map_err(|_| corrupt("blacklist reason", &r.reason))?,
            note: r.note,
            metadata: serde_json::from_str(&r.metadata)
                .map_err(|_| corrupt("metadata", &r.metadata))?,
            blocked_at: r.blocked_at,
            expires_at: r.expires_at,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
            channel: ChannelSummary {
                id: r.channel_id,
                name: r.channel_name,
                channel_type: parse_channel_type(&r.channel_type)?,
                address: r.channel_address,
            },
            customer: Customer {
                id: r.customer_id,
                first_name: r.first_name,
                last_name: r.last_name,
                phone_number: r.phone_number,
                email: r.email,
                avatar_url: r.avatar_url,
            },
        })
    }
}

/// A bind value for statements assembled at run time.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

impl Arg {
    /// The parameter's type as sqlx declares it for the same Rust value; declared so
    /// through tokio-postgres too, PostgreSQL plans a statement as it does for sqlx.
    pub fn postgres_type(&self) -> tokio_postgres::types::Type {
        use tokio_postgres::types::Type;
        match self {
            Arg::Int(_) => Type::INT8,
            Arg::Text(_) => Type::TEXT,
            Arg::Time(_) => Type::TIMESTAMPTZ,
        }
    }

    /// The value as a tokio-postgres parameter.
    pub fn postgres_value(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Arg::Int(v) => v,
            Arg::Text(v) => v,
            Arg::Time(v) => v,
        }
    }
}

/// Builds SQL with numbered placeholders (`$1`, `$2`, ...), which both backends accept.
#[derive(Debug, Default)]
pub struct SqlBuilder {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl SqlBuilder {
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends an integer as a literal: for LIMIT and OFFSET. As a parameter, it would
    /// let PostgreSQL settle on a generic plan that cannot know the page is small
    /// (measured: the list page at a million conversations ran 4.5 times slower).
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.sql.push_str(&value.to_string());
        self
    }

    /// Appends a placeholder for `arg`.
    pub fn arg(&mut self, arg: Arg) -> &mut Self {
        let placeholder = self.param(arg);
        self.sql.push_str(&placeholder);
        self
    }

    /// Adds `arg` and returns its placeholder, for SQL that uses it more than once.
    pub fn param(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub is_customer: bool,
    pub message_type: String,
    pub body: Option<String>,
    pub quoted_message_id: Option<i64>,
    pub quoted_body: Option<String>,
    pub quoted_deleted: Option<bool>,
    pub is_deleted: bool,
    pub is_edited: bool,
    pub edited_by_user_name: Option<String>,
    pub deleted_by_user_name: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    pub metadata: Option<String>,
    pub created_at: DateTime<Utc>,
    pub file_path: Option<String>,
    pub file_name: Option<String>,
    pub file_mime_type: Option<String>,
    pub file_size: Option<i64>,
    pub status: Option<String>,
    pub external_id: Option<String>,
}

/// A message of a page, with the conversation's number of messages selected beside it
/// (`messaging_shared`'s `list_messages`: the page and its total in one statement).
#[derive(sqlx::FromRow)]
pub(crate) struct MessageRowAndTotal {
    #[sqlx(flatten)]
    pub message: MessageRow,
    pub total: i64,
}

pub(crate) const MESSAGE_COLUMNS: &str = "\
    m.id, m.conversation_id, m.user_id, m.user_name, m.is_customer, m.message_type, m.body, \
    m.quoted_message_id, q.body AS quoted_body, q.is_deleted AS quoted_deleted, \
    m.is_deleted, m.is_edited, m.edited_by_user_name, m.deleted_by_user_name, m.read_at, m.metadata, \
    m.created_at, m.file_path, m.file_name, m.file_mime_type, m.file_size, m.status, m.external_id";

/// How many messages conversation `$2` of tenant `$1` has: a list page's total.
pub(crate) const MESSAGE_COUNT: &str =
    "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND conversation_id = $2";

/// `m` with its quoted message `q`; the quote is looked up in the same tenant only.
pub(crate) const MESSAGE_FROM: &str =
    "messages m LEFT JOIN messages q ON q.tenant_id = m.tenant_id AND q.id = m.quoted_message_id";

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        let metadata = match r.metadata.as_deref() {
            None => serde_json::Value::Array(Vec::new()),
            Some(text) => {
                serde_json::from_str(text).map_err(|_| corrupt("message metadata", text))?
            }
        };
        let file = match (r.file_path, r.is_deleted) {
            (Some(path), false) => Some(FileRef {
                path,
                name: r.file_name.unwrap_or_default(),
                mime_type: r.file_mime_type.unwrap_or_default(),
                size: r.file_size.unwrap_or(0),
            }),
            _ => None,
        };
        Ok(Message {
            id: r.id,
            conversation_id: r.conversation_id,
            user_id: r.user_id.map(UserId),
            user_name: r.user_name,
            is_customer: r.is_customer,
            message_type: r.message_type,
            body: if r.is_deleted { None } else { r.body },
            quoted_message_id: r.quoted_message_id,
            quoted_text: if r.quoted_deleted.unwrap_or(false) {
                None
            } else {
                r.quoted_body
            },
            is_deleted: r.is_deleted,
            is_edited: r.is_edited,
            edited_by_user_name: r.edited_by_user_name,
            deleted_by_user_name: r.deleted_by_user_name,
            read_at: r.read_at,
            metadata,
            created_at: r.created_at,
            file,
            status: r.status,
            external_id: r.external_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRecordRow {
    pub id: i64,
    pub tenant_id: i64,
    #[sqlx(rename = "type")]
    pub channel_type: String,
    pub name: String,
    pub address: String,
    pub settings: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A channel with its inbound secret hash, for authenticating ingest.
#[derive(sqlx::FromRow)]
pub(crate) struct InboundChannelRow {
    #[sqlx(flatten)]
    pub channel: ChannelRecordRow,
    pub inbound_secret_hash: String,
}

pub(crate) const CHANNEL_RECORD_COLUMNS: &str =
    "id, tenant_id, type, name, address, settings, created_at, updated_at";

impl TryFrom<ChannelRecordRow> for ChannelRecord {
    type Error = StoreError;
    fn try_from(r: ChannelRecordRow) -> Result<Self, StoreError> {
        Ok(ChannelRecord {
            settings: serde_json::from_str(&r.settings)
                .map_err(|_| corrupt("channel settings", &r.settings))?,
            updated_at: r.updated_at,
            channel: Channel {
                id: r.id,
                tenant_id: TenantId(r.tenant_id),
                channel_type: parse_channel_type(&r.channel_type)?,
                name: r.name,
                address: r.address,
                created_at: r.created_at,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRow {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub default_channel_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const CUSTOMER_COLUMNS: &str =
    "id, first_name, last_name, phone_number, email, avatar_url, default_channel_id, created_at, updated_at";

impl From<CustomerRow> for CustomerRecord {
    fn from(r: CustomerRow) -> Self {
        CustomerRecord {
            customer: Customer {
                id: r.id,
                first_name: r.first_name,
                last_name: r.last_name,
                phone_number: r.phone_number,
                email: r.email,
                avatar_url: r.avatar_url,
            },
            default_channel_id: r.default_channel_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `new` merged into `old`: object keys overwrite, anything else replaces.
pub(crate) fn merge_json(old: serde_json::Value, new: serde_json::Value) -> serde_json::Value {
    match (old, new) {
        (serde_json::Value::Object(mut old), serde_json::Value::Object(new)) => {
            old.extend(new);
            serde_json::Value::Object(old)
        }
        (_, new) => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows are decoded by position: the count must be the list's length, and the
    /// names must come in the order of `ConversationRow`'s fields.
    #[test]
    fn conversation_columns_are_counted_and_in_field_order() {
        let names: Vec<&str> = CONVERSATION_COLUMNS
            .split(',')
            .map(|c| c.split_whitespace().last().unwrap_or(""))
            .map(|c| c.rsplit('.').next().unwrap_or(c))
            .collect();
        assert_eq!(names.len(), CONVERSATION_COLUMN_COUNT);
        assert_eq!(
            names,
            [
                "id",
                "tenant_id",
                "address",
                "created_at",
                "channel_id",
                "channel_name",
                "channel_type",
                "channel_address",
                "customer_id",
                "first_name",
                "last_name",
                "phone_number",
                "email",
                "avatar_url",
                "last_message_id",
                "last_message_preview",
                "last_message_at",
                "last_message_type",
                "last_message_is_customer",
                "unread_count",
                "agent_disabled",
                "agent_expires_at",
                "agent_disabled_by_user_name",
                "blacklist_id",
                "blacklist_reason",
                "blacklist_note",
                "blacklist_metadata",
                "blacklist_blocked_at",
                "blacklist_expires_at",
                "blacklist_is_active",
                "blacklist_created_at",
                "blacklist_updated_at",
                "blacklist_deleted_at",
            ]
        );
    }
}
