//! The shared implementation of `MessagingStore` (see `shared.rs` for why a macro).

macro_rules! impl_messaging_store {
    ($store:ty, $db:ty, $conn:ty) => {
        impl $store {
            async fn fetch_message(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message_id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Message>> {
                use crate::rows::*;
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM {MESSAGE_FROM} \
                     WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.id = $3"
                );
                let row: Option<MessageRow> = sqlx::query_as::<$db, MessageRow>(&sql)
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .bind(message_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            /// The stored conversation of an inbound message's key, locked (`ROW_LOCK`),
            /// with all the delivery decides by, in one round trip: its customer's
            /// names, the blacklist entry blocking the customer at `now`, and the
            /// message already stored under the delivery's `external_id`. That message
            /// is looked for in the statement's snapshot, which may predate a
            /// concurrent delivery we waited for at the lock; then our insert of it
            /// violates `messages_external_id` and `ingest` looks again.
            async fn find_inbound_key(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                channel_id: i64,
                message: &switchboard_core::InboundMessage,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<crate::rows::InboundKeyRow>> {
                let sql = format!(
                    "SELECT c.id, c.customer_id, cu.first_name, cu.last_name, \
                     (SELECT b.id FROM channel_blacklists b WHERE b.tenant_id = $1 AND b.channel_id = $2 \
                      AND b.customer_id = c.customer_id AND b.deleted_at IS NULL AND b.is_active \
                      AND (b.expires_at IS NULL OR b.expires_at > $4) LIMIT 1) AS blocking_id, \
                     (SELECT m.id FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = c.id \
                      AND m.external_id = $5 LIMIT 1) AS seen_message_id \
                     FROM conversations c JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id \
                     WHERE c.tenant_id = $1 AND c.channel_id = $2 AND c.address = $3{}",
                    Self::ROW_LOCK
                );
                sqlx::query_as::<$db, crate::rows::InboundKeyRow>(&sql)
                    .bind(tenant.0)
                    .bind(channel_id)
                    .bind(&message.address)
                    .bind(now)
                    .bind(&message.external_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(crate::rows::db_err)
            }

            /// An inbound message to the stored conversation of its key, in one
            /// statement that commits on its own, where the backend has one
            /// (`one_statement_writer`): four round trips fewer than the long way and no
            /// transaction held open between them. `None` when the long way must
            /// decide (`plan::INGEST_INTO_STORED_CONVERSATION`); nothing is written then.
            async fn ingest_in_one_statement(
                &self,
                tenant: switchboard_core::TenantId,
                channel_id: i64,
                message: &switchboard_core::InboundMessage,
                sent_at: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<(i64, i64)>> {
                use crate::rows::*;
                let Some(pool) = self.one_statement_writer() else {
                    return Ok(None);
                };
                let stored = sqlx::query_as::<$db, (i64, i64)>(crate::plan::INGEST_INTO_STORED_CONVERSATION)
                    .bind(tenant.0)
                    .bind(channel_id)
                    .bind(&message.address)
                    .bind(&message.message_type)
                    .bind(&message.body)
                    .bind(&message.external_id)
                    .bind(sent_at)
                    .bind(now)
                    .bind(&message.first_name)
                    .bind(&message.last_name)
                    .fetch_optional(pool)
                    .await;
                match stored {
                    Ok(stored) => Ok(stored),
                    Err(e) if is_unique_violation(&e) => Ok(None),
                    Err(e) => Err(db_err(e)),
                }
            }

            /// With `lock`, inside a write transaction, also locks the row (`ROW_LOCK`).
            async fn conversation_channel(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                lock: bool,
            ) -> switchboard_core::store::StoreResult<Option<i64>> {
                let sql = format!(
                    "SELECT channel_id FROM conversations c WHERE tenant_id = $1 AND id = $2{}",
                    if lock { Self::ROW_LOCK } else { "" }
                );
                sqlx::query_scalar::<$db, i64>(&sql)
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(crate::rows::db_err)
            }

            /// When `message_id` is the conversation's last message, shows `preview`.
            async fn refresh_preview(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message_id: i64,
                preview: Option<&str>,
            ) -> switchboard_core::store::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE conversations SET last_message_preview = $4 \
                     WHERE tenant_id = $1 AND id = $2 AND last_message_id = $3",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(message_id)
                .bind(preview)
                .execute(&mut *conn)
                .await
                .map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn fetch_blacklist(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::BlacklistEntry>> {
                use crate::rows::*;
                let sql = format!(
                    "SELECT {BLACKLIST_COLUMNS} FROM channel_blacklists b {BLACKLIST_JOINS} \
                     WHERE b.tenant_id = $1 AND b.id = $2 AND b.deleted_at IS NULL"
                );
                let row: Option<BlacklistRow> = sqlx::query_as::<$db, BlacklistRow>(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            /// Recomputes the search keys of a customer and of its conversations.
            async fn rekey_customer(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                customer_id: i64,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                use switchboard_core::search::{conversation_key, customer_key};
                let (first, last, phone, email): (Option<String>, Option<String>, Option<String>, Option<String>) =
                    sqlx::query_as::<$db, _>(
                        "SELECT first_name, last_name, phone_number, email FROM customers WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(customer_id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let key = customer_key(first.as_deref(), last.as_deref(), phone.as_deref(), email.as_deref());
                sqlx::query::<$db>("UPDATE customers SET search_key = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(customer_id)
                    .bind(key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let conversations: Vec<(i64, String)> = sqlx::query_as::<$db, _>(
                    "SELECT id, address FROM conversations WHERE tenant_id = $1 AND customer_id = $2",
                )
                .bind(tenant.0)
                .bind(customer_id)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?;
                for (id, address) in conversations {
                    let key = conversation_key(first.as_deref(), last.as_deref(), &address, phone.as_deref());
                    sqlx::query::<$db>(
                        "UPDATE conversations SET search_key = $3, search_digits = $4 WHERE tenant_id = $1 AND id = $2",
                    )
                        .bind(tenant.0)
                        .bind(id)
                        .bind(&key)
                        .bind(crate::plan::stored_search_digits(Self::DIALECT, &key))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                Ok(())
            }

            async fn fetch_customer(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::CustomerRecord>> {
                use crate::rows::*;
                let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2");
                let row: Option<CustomerRow> = sqlx::query_as::<$db, CustomerRow>(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(row.map(Into::into))
            }

            /// Writes the given customer fields (all or nothing) and re-keys search.
            async fn write_customer(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                id: i64,
                f: &switchboard_core::CustomerFields,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::*;
                let mut b = SqlBuilder::default();
                b.push("UPDATE customers SET updated_at = ").arg(Arg::Time(now));
                for (column, value) in [
                    ("first_name", &f.first_name),
                    ("last_name", &f.last_name),
                    ("phone_number", &f.phone_number),
                    ("email", &f.email),
                    ("avatar_url", &f.avatar_url),
                ] {
                    if let Some(value) = value {
                        b.push(", ").push(column).push(" = ");
                        match value {
                            Some(v) => b.arg(Arg::Text(v.clone())),
                            None => b.push("NULL"),
                        };
                    }
                }
                if let Some(channel) = f.default_channel_id {
                    b.push(", default_channel_id = ");
                    match channel {
                        Some(v) => b.arg(Arg::Int(v)),
                        None => b.push("NULL"),
                    };
                }
                b.push(" WHERE tenant_id = ").arg(Arg::Int(tenant.0)).push(" AND id = ").arg(Arg::Int(id));
                bind_all!(sqlx::query::<$db>(&b.sql), b.args)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Self::rekey_customer(conn, tenant, id).await
            }
        }

        #[async_trait::async_trait]
        impl switchboard_core::MessagingStore for $store {
            async fn list_messages(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                page: switchboard_core::PageRequest,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::PageOf<switchboard_core::Message>>> {
                use crate::rows::*;
                let mut conn = self.reader().acquire().await.map_err(db_err)?;
                // One statement for a page that has messages (the total a subquery run
                // once beside it); only an empty page needs to ask whether the
                // conversation is there and how many messages it has.
                if let Some(offset) = page.offset() {
                    let sql = format!(
                        "SELECT {MESSAGE_COLUMNS}, ({MESSAGE_COUNT}) AS total FROM {MESSAGE_FROM} \
                         WHERE m.tenant_id = $1 AND m.conversation_id = $2 ORDER BY m.id DESC LIMIT $3 OFFSET $4"
                    );
                    let rows: Vec<MessageRowAndTotal> = sqlx::query_as::<$db, MessageRowAndTotal>(&sql)
                        .bind(tenant.0)
                        .bind(conversation_id)
                        .bind(page.per_page)
                        .bind(offset)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    if let Some(total) = rows.first().map(|r| r.total) {
                        let items = rows
                            .into_iter()
                            .map(|r| r.message.try_into())
                            .collect::<Result<Vec<_>, _>>()?;
                        return Ok(Some(switchboard_core::PageOf { items, total }));
                    }
                }
                if Self::conversation_channel(&mut conn, tenant, conversation_id, false).await?.is_none() {
                    return Ok(None);
                }
                let total: i64 = sqlx::query_scalar::<$db, i64>(MESSAGE_COUNT)
                .bind(tenant.0)
                .bind(conversation_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
                Ok(Some(switchboard_core::PageOf { items: Vec::new(), total }))
            }

            async fn get_message(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message_id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Message>> {
                let mut conn = self.reader().acquire().await.map_err(crate::rows::db_err)?;
                Self::fetch_message(&mut conn, tenant, conversation_id, message_id).await
            }

            async fn send_message(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message: switchboard_core::OutboundMessage,
                idempotency: Option<switchboard_core::IdempotencyKey>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::SendOutcome> {
                use crate::rows::*;
                use switchboard_core::{SendOutcome, StoreError};
                // Two rounds at most: a concurrent request with the same key makes our
                // key insert a no-op; the second round then replays its message.
                for _ in 0..2 {
                    let mut tx = self.begin_write().await?;
                    if let Some(key) = &idempotency {
                        let seen: Option<(String, i64)> = sqlx::query_as::<$db, (String, i64)>(
                            "SELECT fingerprint, message_id FROM idempotency_keys \
                             WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
                        )
                        .bind(tenant.0)
                        .bind(key.user_id.0)
                        .bind(&key.key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if let Some((fingerprint, message_id)) = seen {
                            tx.rollback().await.map_err(db_err)?;
                            if fingerprint != key.fingerprint {
                                return Ok(SendOutcome::KeyReused);
                            }
                            let mut conn = self.reader().acquire().await.map_err(db_err)?;
                            let first = Self::fetch_message(&mut conn, tenant, conversation_id, message_id)
                                .await?
                                .ok_or(StoreError::NotFound("message"))?;
                            return Ok(SendOutcome::Replayed(first));
                        }
                    }
                    let channel_id = Self::conversation_channel(&mut *tx, tenant, conversation_id, true)
                        .await?
                        .ok_or(StoreError::NotFound("conversation"))?;
                    let file = message.file.as_ref();
                    let id: i64 = sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO messages (tenant_id, conversation_id, user_id, user_name, is_customer, message_type, \
                         body, quoted_message_id, status, file_path, file_name, file_mime_type, file_size, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, 'queued', $8, $9, $10, $11, $12, $12) RETURNING id",
                    )
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .bind(message.user_id.map(|u| u.0))
                    .bind(&message.user_name)
                    .bind(&message.message_type)
                    .bind(&message.body)
                    .bind(message.quoted_message_id)
                    .bind(file.map(|f| f.path.clone()))
                    .bind(file.map(|f| f.name.clone()))
                    .bind(file.map(|f| f.mime_type.clone()))
                    .bind(file.map(|f| f.size))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    sqlx::query::<$db>(
                        "INSERT INTO message_outbox (tenant_id, message_id, channel_id, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'queued', $4, $4)",
                    )
                    .bind(tenant.0)
                    .bind(id)
                    .bind(channel_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    sqlx::query::<$db>(
                        "UPDATE conversations SET last_message_id = $3, last_message_preview = $4, last_message_at = $5, \
                         last_message_type = $6, last_message_is_customer = FALSE, activity_at = $5, updated_at = $5 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .bind(id)
                    .bind(&message.body)
                    .bind(now)
                    .bind(&message.message_type)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if let Some(key) = &idempotency {
                        let stored = sqlx::query::<$db>(
                            "INSERT INTO idempotency_keys (tenant_id, user_id, idempotency_key, fingerprint, message_id, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant.0)
                        .bind(key.user_id.0)
                        .bind(&key.key)
                        .bind(&key.fingerprint)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if stored.rows_affected() == 0 {
                            tx.rollback().await.map_err(db_err)?;
                            continue;
                        }
                    }
                    let sent = Self::fetch_message(&mut *tx, tenant, conversation_id, id)
                        .await?
                        .ok_or(StoreError::NotFound("message"))?;
                    tx.commit().await.map_err(db_err)?;
                    return Ok(SendOutcome::Sent(sent));
                }
                Err(StoreError::Database("idempotency key was taken concurrently but cannot be read back".into()))
            }

            async fn edit_message(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message_id: i64,
                body: &str,
                editor_name: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Result<switchboard_core::Message, switchboard_core::MessageChangeError>> {
                use crate::rows::db_err;
                use switchboard_core::{MessageChangeError, StoreError};
                let mut tx = self.begin_write().await?;
                let Some(current) = Self::fetch_message(&mut *tx, tenant, conversation_id, message_id).await? else {
                    return Ok(Err(MessageChangeError::NotFound));
                };
                if current.is_deleted {
                    return Ok(Err(MessageChangeError::AlreadyDeleted));
                }
                if current.is_customer {
                    return Ok(Err(MessageChangeError::NotAgentMessage));
                }
                sqlx::query::<$db>(
                    "UPDATE messages SET body = $4, is_edited = TRUE, edited_by_user_name = $5, updated_at = $6 \
                     WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(message_id)
                .bind(body)
                .bind(editor_name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                Self::refresh_preview(&mut *tx, tenant, conversation_id, message_id, Some(body)).await?;
                let edited = Self::fetch_message(&mut *tx, tenant, conversation_id, message_id)
                    .await?
                    .ok_or(StoreError::NotFound("message"))?;
                tx.commit().await.map_err(db_err)?;
                Ok(Ok(edited))
            }

            async fn delete_message(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message_id: i64,
                deleter_name: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Result<switchboard_core::Message, switchboard_core::MessageChangeError>> {
                use crate::rows::db_err;
                use switchboard_core::{MessageChangeError, StoreError};
                let mut tx = self.begin_write().await?;
                let Some(current) = Self::fetch_message(&mut *tx, tenant, conversation_id, message_id).await? else {
                    return Ok(Err(MessageChangeError::NotFound));
                };
                if current.is_deleted {
                    return Ok(Err(MessageChangeError::AlreadyDeleted));
                }
                // The text is gone for good: a deleted message keeps only its metadata.
                sqlx::query::<$db>(
                    "UPDATE messages SET body = NULL, is_deleted = TRUE, deleted_by_user_name = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(message_id)
                .bind(deleter_name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                // An unread customer message counted in `unread_count`; deleted, it is
                // nothing left to read.
                if current.is_customer && current.read_at.is_none() {
                    sqlx::query::<$db>(
                        "UPDATE conversations SET unread_count = unread_count - 1 \
                         WHERE tenant_id = $1 AND id = $2 AND unread_count > 0",
                    )
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                // Its file is due for the sweeper, which removes the bytes unless
                // another live message holds them.
                if let Some(file) = &current.file {
                    sqlx::query::<$db>(
                        "UPDATE files SET sweep_pending = TRUE WHERE tenant_id = $1 AND key = $2",
                    )
                    .bind(tenant.0)
                    .bind(&file.path)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                Self::refresh_preview(&mut *tx, tenant, conversation_id, message_id, None).await?;
                let deleted = Self::fetch_message(&mut *tx, tenant, conversation_id, message_id)
                    .await?
                    .ok_or(StoreError::NotFound("message"))?;
                tx.commit().await.map_err(db_err)?;
                Ok(Ok(deleted))
            }

            async fn mark_read(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE conversations SET unread_count = 0, updated_at = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if updated.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query::<$db>(
                    "UPDATE messages SET read_at = $3 \
                     WHERE tenant_id = $1 AND conversation_id = $2 AND is_customer AND read_at IS NULL",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(true)
            }

            async fn set_delivery_status(
                &self,
                tenant: switchboard_core::TenantId,
                message_id: i64,
                status: switchboard_core::DeliveryStatus,
                error: Option<String>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Result<(), switchboard_core::DeliveryStatus>> {
                use crate::rows::{corrupt, db_err};
                use switchboard_core::{DeliveryStatus, StoreError};
                let mut tx = self.begin_write().await?;
                let current: String = sqlx::query_scalar::<$db, String>(
                    "SELECT status FROM message_outbox WHERE tenant_id = $1 AND message_id = $2",
                )
                .bind(tenant.0)
                .bind(message_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or(StoreError::NotFound("outbound message"))?;
                let current: DeliveryStatus = current.parse().map_err(|_| corrupt("delivery status", &current))?;
                if !current.can_become(status) {
                    return Ok(Err(current));
                }
                sqlx::query::<$db>(
                    "UPDATE message_outbox SET status = $3, last_error = $4, attempts = attempts + 1, updated_at = $5 \
                     WHERE tenant_id = $1 AND message_id = $2",
                )
                .bind(tenant.0)
                .bind(message_id)
                .bind(status.as_str())
                .bind(&error)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query::<$db>("UPDATE messages SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(message_id)
                    .bind(status.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(Ok(()))
            }

            async fn set_agent(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                switch: switchboard_core::AgentSwitch,
                by_user: Option<switchboard_core::UserId>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE conversations SET agent_disabled = $3, agent_expires_at = $4, agent_disabled_by_user_id = $5, \
                     agent_disabled_by_user_name = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(switch.disabled)
                .bind(switch.expires_at)
                .bind(by_user.map(|u| u.0))
                .bind(&switch.disabled_by_user_name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(updated.rows_affected() > 0)
            }

            async fn create_blacklist(
                &self,
                tenant: switchboard_core::TenantId,
                entry: switchboard_core::NewBlacklist,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Result<switchboard_core::BlacklistEntry, switchboard_core::BlacklistError>> {
                use crate::rows::*;
                use switchboard_core::{BlacklistError, StoreError};
                let mut tx = self.begin_write().await?;
                let channel: Option<i64> = sqlx::query_scalar::<$db, i64>(
                    "SELECT id FROM channels WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(tenant.0)
                .bind(entry.channel_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                if channel.is_none() {
                    return Ok(Err(BlacklistError::UnknownChannel));
                }
                if Self::fetch_customer(&mut *tx, tenant, entry.customer_id).await?.is_none() {
                    return Ok(Err(BlacklistError::UnknownCustomer));
                }
                // An entry that ran out no longer holds the one-active-entry slot.
                sqlx::query::<$db>(
                    "UPDATE channel_blacklists SET is_active = FALSE, updated_at = $4 \
                     WHERE tenant_id = $1 AND channel_id = $2 AND customer_id = $3 AND deleted_at IS NULL AND is_active \
                     AND expires_at IS NOT NULL AND expires_at <= $4",
                )
                .bind(tenant.0)
                .bind(entry.channel_id)
                .bind(entry.customer_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let inserted = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO channel_blacklists (tenant_id, channel_id, customer_id, reason, note, metadata, blocked_at, \
                     expires_at, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $7, $7) RETURNING id",
                )
                .bind(tenant.0)
                .bind(entry.channel_id)
                .bind(entry.customer_id)
                .bind(entry.reason.as_str())
                .bind(&entry.note)
                .bind(entry.metadata.to_string())
                .bind(now)
                .bind(entry.expires_at)
                .fetch_one(&mut *tx)
                .await;
                let id = match inserted {
                    Ok(id) => id,
                    Err(e) if is_unique_violation(&e) => return Ok(Err(BlacklistError::AlreadyBlocked)),
                    Err(e) => return Err(db_err(e)),
                };
                let created = Self::fetch_blacklist(&mut *tx, tenant, id)
                    .await?
                    .ok_or(StoreError::NotFound("blacklist entry"))?;
                tx.commit().await.map_err(db_err)?;
                Ok(Ok(created))
            }

            async fn get_blacklist(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::BlacklistEntry>> {
                let mut conn = self.reader().acquire().await.map_err(crate::rows::db_err)?;
                Self::fetch_blacklist(&mut conn, tenant, id).await
            }

            async fn update_blacklist(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                patch: switchboard_core::BlacklistPatch,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<Result<switchboard_core::BlacklistEntry, switchboard_core::BlacklistError>>> {
                use crate::rows::*;
                use switchboard_core::{BlacklistError, StoreError};
                let mut tx = self.begin_write().await?;
                let Some(current) = Self::fetch_blacklist(&mut *tx, tenant, id).await? else {
                    return Ok(None);
                };
                let reason = patch.reason.unwrap_or(current.reason);
                let note = patch.note.unwrap_or(current.note);
                let expires_at = patch.expires_at.unwrap_or(current.expires_at);
                let is_active = patch.is_active.unwrap_or(current.is_active);
                let metadata = match patch.metadata {
                    Some(new) => merge_json(current.metadata, new),
                    None => current.metadata,
                };
                let updated = sqlx::query::<$db>(
                    "UPDATE channel_blacklists SET reason = $3, note = $4, expires_at = $5, is_active = $6, metadata = $7, \
                     updated_at = $8 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(reason.as_str())
                .bind(&note)
                .bind(expires_at)
                .bind(is_active)
                .bind(metadata.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await;
                match updated {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Ok(Some(Err(BlacklistError::AlreadyBlocked))),
                    Err(e) => return Err(db_err(e)),
                }
                let entry = Self::fetch_blacklist(&mut *tx, tenant, id)
                    .await?
                    .ok_or(StoreError::NotFound("blacklist entry"))?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(Ok(entry)))
            }

            async fn delete_blacklist(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::BlacklistEntry>> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let Some(mut entry) = Self::fetch_blacklist(&mut *tx, tenant, id).await? else {
                    return Ok(None);
                };
                sqlx::query::<$db>(
                    "UPDATE channel_blacklists SET deleted_at = $3, is_active = FALSE, updated_at = $3 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                entry.deleted_at = Some(now);
                entry.is_active = false;
                entry.updated_at = now;
                Ok(Some(entry))
            }

            async fn list_blacklists(
                &self,
                tenant: switchboard_core::TenantId,
                filter: switchboard_core::BlacklistFilter,
                page: switchboard_core::PageRequest,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::PageOf<switchboard_core::BlacklistEntry>> {
                use crate::rows::*;
                let mut conn = self.reader().acquire().await.map_err(db_err)?;
                let mut filters = SqlBuilder::default();
                filters.push(" WHERE b.tenant_id = ").arg(Arg::Int(tenant.0)).push(" AND b.deleted_at IS NULL");
                if let Some(channel) = filter.channel_id {
                    filters.push(" AND b.channel_id = ").arg(Arg::Int(channel));
                }
                if let Some(customer) = filter.customer_id {
                    filters.push(" AND b.customer_id = ").arg(Arg::Int(customer));
                }
                if let Some(active) = filter.active {
                    filters.push(if active { " AND " } else { " AND NOT " });
                    filters
                        .push("(b.is_active AND (b.expires_at IS NULL OR b.expires_at > ")
                        .arg(Arg::Time(now))
                        .push("))");
                }
                let mut count = SqlBuilder::default();
                count.push("SELECT COUNT(*) FROM channel_blacklists b").push(&filters.sql);
                count.args = filters.args.clone();
                let total: i64 = bind_all!(sqlx::query_scalar::<$db, i64>(&count.sql), count.args)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let Some(offset) = page.offset().filter(|o| *o < total) else {
                    return Ok(switchboard_core::PageOf { items: Vec::new(), total });
                };
                let mut rows_sql = SqlBuilder::default();
                rows_sql.push("SELECT ").push(BLACKLIST_COLUMNS).push(" FROM channel_blacklists b ").push(BLACKLIST_JOINS);
                rows_sql.push(&filters.sql);
                rows_sql.args = filters.args;
                rows_sql.push(" ORDER BY b.id DESC LIMIT ").int(page.per_page).push(" OFFSET ").int(offset);
                let rows: Vec<BlacklistRow> = bind_all!(sqlx::query_as::<$db, BlacklistRow>(&rows_sql.sql), rows_sql.args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let items = rows.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>, _>>()?;
                Ok(switchboard_core::PageOf { items, total })
            }

            async fn list_channels(
                &self,
                tenant: switchboard_core::TenantId,
                page: switchboard_core::PageRequest,
            ) -> switchboard_core::store::StoreResult<switchboard_core::PageOf<switchboard_core::ChannelRecord>> {
                use crate::rows::*;
                let mut conn = self.reader().acquire().await.map_err(db_err)?;
                let total: i64 = sqlx::query_scalar::<$db, i64>(
                    "SELECT COUNT(*) FROM channels WHERE tenant_id = $1 AND deleted_at IS NULL",
                )
                .bind(tenant.0)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
                let Some(offset) = page.offset().filter(|o| *o < total) else {
                    return Ok(switchboard_core::PageOf { items: Vec::new(), total });
                };
                let sql = format!(
                    "SELECT {CHANNEL_RECORD_COLUMNS} FROM channels WHERE tenant_id = $1 AND deleted_at IS NULL \
                     ORDER BY id DESC LIMIT $2 OFFSET $3"
                );
                let rows: Vec<ChannelRecordRow> = sqlx::query_as::<$db, ChannelRecordRow>(&sql)
                    .bind(tenant.0)
                    .bind(page.per_page)
                    .bind(offset)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let items = rows.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>, _>>()?;
                Ok(switchboard_core::PageOf { items, total })
            }

            async fn get_channel_record(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::ChannelRecord>> {
                use crate::rows::*;
                let sql = format!(
                    "SELECT {CHANNEL_RECORD_COLUMNS} FROM channels WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
                );
                let row: Option<ChannelRecordRow> = sqlx::query_as::<$db, ChannelRecordRow>(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn update_channel(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                patch: switchboard_core::ChannelPatch,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::ChannelRecord>> {
                use crate::rows::*;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "SELECT {CHANNEL_RECORD_COLUMNS} FROM channels WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
                );
                let row: Option<ChannelRecordRow> = sqlx::query_as::<$db, ChannelRecordRow>(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let Some(current) = row.map(switchboard_core::ChannelRecord::try_from).transpose()? else {
                    return Ok(None);
                };
                let name = patch.name.unwrap_or(current.channel.name);
                let address = patch.address.unwrap_or(current.channel.address);
                let settings = match patch.settings {
                    Some(new) => merge_json(current.settings, new),
                    None => current.settings,
                };
                sqlx::query::<$db>(
                    "UPDATE channels SET name = $3, address = $4, settings = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(&name)
                .bind(&address)
                .bind(settings.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let row: ChannelRecordRow = sqlx::query_as::<$db, ChannelRecordRow>(&sql)
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(row.try_into()?))
            }

            async fn delete_channel(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE channels SET deleted_at = $3, updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(updated.rows_affected() > 0)
            }

            async fn set_channel_secret(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                secret_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE channels SET inbound_secret_hash = $3, updated_at = $4 \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(secret_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(updated.rows_affected() > 0)
            }

            async fn find_channel_for_inbound(
                &self,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<(switchboard_core::Channel, String)>> {
                use crate::rows::*;
                let sql = format!(
                    "SELECT {CHANNEL_RECORD_COLUMNS}, inbound_secret_hash FROM channels WHERE id = $1 AND deleted_at IS NULL"
                );
                let row: Option<InboundChannelRow> = sqlx::query_as::<$db, InboundChannelRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db_err)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let record: switchboard_core::ChannelRecord = row.channel.try_into()?;
                Ok(Some((record.channel, row.inbound_secret_hash)))
            }

            async fn ingest(
                &self,
                channel: &switchboard_core::Channel,
                message: switchboard_core::InboundMessage,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::IngestOutcome> {
                use crate::rows::*;
                use switchboard_core::{IngestOutcome, NewConversation, StoreError};
                let tenant = channel.tenant_id;
                let sent_at = whole_seconds(message.sent_at);
                if let Some((conversation_id, message_id)) =
                    self.ingest_in_one_statement(tenant, channel.id, &message, sent_at, now).await?
                {
                    return Ok(IngestOutcome::Stored { conversation_id, message_id });
                }
                let new = NewConversation {
                    channel_id: channel.id,
                    address: message.address.clone(),
                    first_name: message.first_name.clone(),
                    last_name: message.last_name.clone(),
                };
                for _ in 0..2 {
                    let mut tx = self.begin_write().await?;
                    // Set when this delivery starts a conversation (`commit_adding`).
                    let mut added = None;
                    let known = Self::find_inbound_key(&mut *tx, tenant, channel.id, &message, now).await?;
                    let conversation_id = match known {
                        Some(known) => {
                            if let Some(blacklist_id) = known.blocking_id {
                                sqlx::query::<$db>(
                                    "UPDATE channel_blacklists SET blocked_messages = blocked_messages + 1, last_blocked_at = $3 \
                                     WHERE tenant_id = $1 AND id = $2",
                                )
                                .bind(tenant.0)
                                .bind(blacklist_id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(db_err)?;
                                tx.commit().await.map_err(db_err)?;
                                return Ok(IngestOutcome::Blocked { blacklist_id });
                            }
                            if let Some(message_id) = known.seen_message_id {
                                tx.rollback().await.map_err(db_err)?;
                                return Ok(IngestOutcome::Duplicate { conversation_id: known.id, message_id });
                            }
                            let stored = (known.first_name, known.last_name);
                            Self::fill_read_customer_names(&mut *tx, tenant, known.customer_id, stored, &new, now).await?;
                            known.id
                        }
                        None => match Self::insert_conversation(&mut *tx, tenant, &new, sent_at.min(now)).await? {
                            Some((id, new_conversation)) => {
                                added = Some(new_conversation);
                                id
                            }
                            None => {
                                tx.rollback().await.map_err(db_err)?;
                                continue;
                            }
                        },
                    };
                    let inserted = sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO messages (tenant_id, conversation_id, is_customer, message_type, body, external_id, \
                         created_at, updated_at) VALUES ($1, $2, TRUE, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .bind(&message.message_type)
                    .bind(&message.body)
                    .bind(&message.external_id)
                    .bind(sent_at)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await;
                    let message_id = match inserted {
                        Ok(id) => id,
                        // The same delivery, stored concurrently: look again.
                        Err(e) if is_unique_violation(&e) => {
                            tx.rollback().await.map_err(db_err)?;
                            continue;
                        }
                        Err(e) => return Err(db_err(e)),
                    };
                    sqlx::query::<$db>(
                        "UPDATE conversations SET last_message_id = $3, last_message_preview = $4, last_message_at = $5, \
                         last_message_type = $6, last_message_is_customer = TRUE, unread_count = unread_count + 1, \
                         activity_at = CASE WHEN activity_at > $5 THEN activity_at ELSE $5 END, updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(conversation_id)
                    .bind(message_id)
                    .bind(&message.body)
                    .bind(sent_at)
                    .bind(&message.message_type)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    match &added {
                        Some(added) => self.commit_adding(tx, tenant, added).await?,
                        None => tx.commit().await.map_err(db_err)?,
                    }
                    return Ok(IngestOutcome::Stored { conversation_id, message_id });
                }
                Err(StoreError::Database("inbound message was stored concurrently but cannot be read back".into()))
            }

            async fn create_customer(
                &self,
                tenant: switchboard_core::TenantId,
                fields: switchboard_core::CustomerFields,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::CustomerRecord> {
                use crate::rows::db_err;
                use switchboard_core::StoreError;
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO customers (tenant_id, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
                )
                .bind(tenant.0)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                Self::write_customer(&mut *tx, tenant, id, &fields, now).await.map_err(|e| match e {
                    StoreError::Database(m) if m.contains("FOREIGN KEY") || m.contains("foreign key") => {
                        StoreError::NotFound("default channel")
                    }
                    other => other,
                })?;
                let record = Self::fetch_customer(&mut *tx, tenant, id).await?.ok_or(StoreError::NotFound("customer"))?;
                tx.commit().await.map_err(db_err)?;
                Ok(record)
            }

            async fn get_customer(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::CustomerRecord>> {
                let mut conn = self.reader().acquire().await.map_err(crate::rows::db_err)?;
                Self::fetch_customer(&mut conn, tenant, id).await
            }

            async fn update_customer(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                fields: switchboard_core::CustomerFields,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::CustomerRecord>> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                if Self::fetch_customer(&mut *tx, tenant, id).await?.is_none() {
                    return Ok(None);
                }
                Self::write_customer(&mut *tx, tenant, id, &fields, now).await?;
                let record = Self::fetch_customer(&mut *tx, tenant, id).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(record)
            }

            async fn list_customers(
                &self,
                tenant: switchboard_core::TenantId,
                filter: &switchboard_core::CustomerFilter,
                page: switchboard_core::PageRequest,
            ) -> switchboard_core::store::StoreResult<switchboard_core::PageOf<switchboard_core::CustomerRecord>> {
                use crate::rows::*;
                use switchboard_core::CustomerSort;
                let mut conn = self.reader().acquire().await.map_err(db_err)?;
                let mut filters = SqlBuilder::default();
                filters.push(" WHERE tenant_id = ").arg(Arg::Int(tenant.0));
                if let Some(search) = &filter.search {
                    filters.push(" AND search_key LIKE ").arg(Arg::Text(search.like_pattern())).push(" ESCAPE '\\'");
                }
                let mut count = SqlBuilder::default();
                count.push("SELECT COUNT(*) FROM customers").push(&filters.sql);
                count.args = filters.args.clone();
                let total: i64 = bind_all!(sqlx::query_scalar::<$db, i64>(&count.sql), count.args)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let Some(offset) = page.offset().filter(|o| *o < total) else {
                    return Ok(switchboard_core::PageOf { items: Vec::new(), total });
                };
                let (column, ascending) = filter.sort.unwrap_or((CustomerSort::Id, false));
                let column = match column {
                    CustomerSort::Id => "id",
                    CustomerSort::FirstName => "first_name",
                    CustomerSort::LastName => "last_name",
                    CustomerSort::CreatedAt => "created_at",
                };
                let direction = if ascending { "ASC" } else { "DESC" };
                let mut rows_sql = SqlBuilder::default();
                rows_sql.push("SELECT ").push(CUSTOMER_COLUMNS).push(" FROM customers").push(&filters.sql);
                rows_sql.args = filters.args;
                rows_sql.push(&format!(" ORDER BY {column} {direction}, id {direction} LIMIT "));
                rows_sql.int(page.per_page).push(" OFFSET ").int(offset);
                let rows: Vec<CustomerRow> = bind_all!(sqlx::query_as::<$db, CustomerRow>(&rows_sql.sql), rows_sql.args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(switchboard_core::PageOf { items: rows.into_iter().map(Into::into).collect(), total })
            }

            async fn setting(
                &self,
                name: &str,
                initial: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<String> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO server_settings (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(initial)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let value = sqlx::query_scalar::<$db, String>("SELECT value FROM server_settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(value)
            }
        }
    };
}
