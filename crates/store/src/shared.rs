//! The `Store` implementation both backends share. It is a macro because sqlx's
//! executors are typed by database: the SQL below is written once, in the dialect
//! both SQLite and PostgreSQL accept, and instantiated for each backend. A backend
//! supplies `reader()`, `poller()`, `begin_write()` (a `WriteTx`: every write goes through
//! one), `counter_slot()` and its SQL `DIALECT`; everything else lives here, and the list request's statements in
//! `plan.rs`.

/// Instantiates the shared `Store` for `$store`, a store over database `$db` whose
/// connections are `$conn`.
macro_rules! impl_shared_store {
    ($store:ty, $db:ty, $conn:ty) => {
        impl $store {
            fn list_settings(&self) -> crate::list::ListSettings {
                crate::list::ListSettings {
                    dialect: Self::DIALECT,
                    search_walk_max: self.search_walk_max(),
                    tenant_in_search_index_max: self.tenant_in_search_index_max,
                }
            }

            /// Conversations with their channel and customer, in list order, with the
            /// blacklist entries that block each one at `now`.
            async fn hydrate(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                page: crate::rows::SqlBuilder,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::Conversation>> {
                Self::fetch_hydrated(conn, crate::plan::hydrate(Self::DIALECT, tenant, page, now)).await
            }

            /// Runs a statement selecting `CONVERSATION_COLUMNS`.
            async fn fetch_hydrated(
                conn: &mut $conn,
                b: crate::rows::SqlBuilder,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::Conversation>> {
                use crate::rows::*;
                let rows: Vec<ConversationRow> = bind_all!(sqlx::query_as::<$db, ConversationRow>(&b.sql), b.args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(ConversationRow::into_conversation).collect()
            }

            async fn fetch_conversation(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Conversation>> {
                use crate::rows::*;
                let mut page = SqlBuilder::default();
                page.push("SELECT c.id FROM conversations c WHERE c.tenant_id = ")
                    .arg(Arg::Int(tenant.0))
                    .push(" AND c.id = ")
                    .arg(Arg::Int(id));
                Ok(Self::hydrate(conn, tenant, page, now).await?.pop())
            }

            /// Locks the row for the rest of the write transaction (`ROW_LOCK`).
            async fn find_conversation_key(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                channel_id: i64,
                address: &str,
            ) -> switchboard_core::store::StoreResult<Option<(i64, i64)>> {
                let sql = format!(
                    "SELECT id, customer_id FROM conversations c WHERE tenant_id = $1 AND channel_id = $2 AND address = $3{}",
                    Self::ROW_LOCK
                );
                sqlx::query_as::<$db, (i64, i64)>(&sql)
                .bind(tenant.0)
                .bind(channel_id)
                .bind(address)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::rows::db_err)
            }

            /// Inserts the customer and conversation of a key not stored yet, and counts
            /// it. `None` when a concurrent insert of the same key won: the caller must
            /// roll back (dropping the customer made here) and look the key up again.
            async fn insert_conversation(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                new: &switchboard_core::NewConversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<(i64, crate::search_counts::AddedConversation)>> {
                use crate::rows::db_err;
                use switchboard_core::StoreError;
                    let channel_type: Option<String> = sqlx::query_scalar::<$db, String>(
                        "SELECT type FROM channels WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                    )
                    .bind(tenant.0)
                    .bind(new.channel_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let channel_type = channel_type.ok_or(StoreError::NotFound("channel"))?;
                    let phone = (channel_type == "whatsapp").then(|| new.address.clone());
                    let customer_id: i64 = sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO customers (tenant_id, first_name, last_name, phone_number, default_channel_id, search_key, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $7, $6, $6) RETURNING id",
                    )
                    .bind(tenant.0)
                    .bind(&new.first_name)
                    .bind(&new.last_name)
                    .bind(&phone)
                    .bind(new.channel_id)
                    .bind(now)
                    .bind(switchboard_core::search::customer_key(
                        new.first_name.as_deref(),
                        new.last_name.as_deref(),
                        phone.as_deref(),
                        None,
                    ))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let key = switchboard_core::search::conversation_key(
                        new.first_name.as_deref(),
                        new.last_name.as_deref(),
                        &new.address,
                        phone.as_deref(),
                    );
                    let inserted: Option<i64> = sqlx::query_scalar::<$db, i64>(
                        "INSERT INTO conversations (tenant_id, channel_id, channel_type, customer_id, address, search_key, \
                         search_digits, activity_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $8, $7, $7, $7) \
                         ON CONFLICT (tenant_id, channel_id, address) DO NOTHING RETURNING id",
                    )
                    .bind(tenant.0)
                    .bind(new.channel_id)
                    .bind(&channel_type)
                    .bind(customer_id)
                    .bind(&new.address)
                    .bind(&key)
                    .bind(now)
                    .bind(crate::plan::stored_search_digits(Self::DIALECT, &key))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let Some(id) = inserted else {
                        return Ok(None);
                    };
                    sqlx::query::<$db>(
                        "INSERT INTO conversation_counts (tenant_id, channel_type, slot, n) VALUES ($1, $2, $3, 1) \
                         ON CONFLICT (tenant_id, channel_type, slot) DO UPDATE SET n = conversation_counts.n + 1",
                    )
                    .bind(tenant.0)
                    .bind(&channel_type)
                    .bind(Self::counter_slot())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(Some((id, crate::search_counts::AddedConversation { channel_type, search_key: key })))
            }

            /// Commits a write transaction that added one conversation, `added`, and
            /// changed no search key, and logs it for the tenant's remembered search
            /// totals (`search_counts.rs`), so the next search need not count again.
            /// The log needs the epochs the addition may have taken.
            /// SQLite: the batch transaction (`BEGIN IMMEDIATE`, `group_commit.rs`)
            /// excludes every other writer, and its members write in turn, so the
            /// epoch read in the transaction is the addition's own; it is logged before
            /// the commit (a reader that sees the commit finds it there; one that came
            /// in between would count again, and under load those counts piled up) and
            /// taken back if the commit fails.
            /// PostgreSQL: writers commit side by side, so the addition's epoch is one
            /// from the read in the transaction to the first epoch read that begins
            /// after the commit: another create's, or a search's (`SearchCounts::bound`).
            /// No read of its own after the commit: that cost every create a round trip.
            async fn commit_adding(
                &self,
                mut tx: WriteTx,
                tenant: switchboard_core::TenantId,
                added: &crate::search_counts::AddedConversation,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                if !self.search_counts().keeps(tenant) {
                    return tx.commit().await.map_err(db_err);
                }
                let sql = crate::plan::search_epoch(tenant);
                let ticket = self.search_counts().ticket();
                let epoch: i64 = bind_all!(sqlx::query_scalar::<$db, i64>(&sql.sql), sql.args)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                self.search_counts().bound(tenant, ticket, epoch);
                if Self::WRITERS_EXCLUSIVE {
                    return self.commit_own_epoch(tx, tenant, epoch, added).await;
                }
                tx.commit().await.map_err(db_err)?;
                // Logged only now that it is committed: an epoch read that begins after
                // this may bound it (`SearchCounts::bound`), and every search's and
                // every other create's read does.
                self.search_counts().record_committed(tenant, epoch, added);
                Ok(())
            }

            /// Commits a write transaction of an exclusive writer whose addition took
            /// `epoch`, read in the transaction: logged before the commit, so that a
            /// reader that sees the commit finds it, and taken back if the commit fails.
            async fn commit_own_epoch(
                &self,
                tx: WriteTx,
                tenant: switchboard_core::TenantId,
                epoch: i64,
                added: &crate::search_counts::AddedConversation,
            ) -> switchboard_core::store::StoreResult<()> {
                self.search_counts().record_own_epoch(tenant, epoch, added);
                tx.commit().await.map_err(|e| {
                    self.search_counts().retract(tenant, epoch);
                    crate::rows::db_err(e)
                })
            }

            /// A new key's conversation in one round trip (`plan::create_conversation_at_once`);
            /// `None` when the long way must decide: the key is stored, the channel is
            /// not there, or a concurrent create of the key won. Nothing is written then.
            /// PostgreSQL: one statement that commits on its own, on the pool
            /// (`one_statement_writer`). It read the epoch without its own addition, so
            /// the addition took that epoch plus one or a later one, which is logged
            /// as `commit_adding` logs a PostgreSQL create's.
            /// SQLite: one script in a write transaction of the single writer; its epoch
            /// is its own, logged before the commit and taken back if the commit fails,
            /// as `commit_adding` does.
            async fn create_in_one_statement(
                &self,
                tenant: switchboard_core::TenantId,
                new: &switchboard_core::NewConversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Conversation>> {
                use crate::rows::*;
                use switchboard_core::search::{conversation_key, customer_key};
                let (first, last) = (new.first_name.as_deref(), new.last_name.as_deref());
                let phone = Some(new.address.as_str());
                // The statement picks by the channel's type: its address is a WhatsApp
                // customer's phone number.
                let whatsapp_key = conversation_key(first, last, &new.address, phone);
                let other_key = conversation_key(first, last, &new.address, None);
                let ticket = self.search_counts().ticket();
                let query = sqlx::query_as::<$db, ConversationRowAnd>(crate::plan::create_conversation_at_once(Self::DIALECT))
                    .bind(tenant.0)
                    .bind(new.channel_id)
                    .bind(&new.address)
                    .bind(&new.first_name)
                    .bind(&new.last_name)
                    .bind(now)
                    .bind(customer_key(first, last, phone, None))
                    .bind(customer_key(first, last, None, None))
                    .bind(&whatsapp_key)
                    .bind(&other_key)
                    .bind(Self::counter_slot())
                    .bind(crate::plan::stored_search_digits(Self::DIALECT, &whatsapp_key))
                    .bind(crate::plan::stored_search_digits(Self::DIALECT, &other_key));
                let added = |conversation: &ConversationRow| {
                    let whatsapp = conversation.channel_type == "whatsapp";
                    crate::search_counts::AddedConversation {
                        channel_type: conversation.channel_type.clone(),
                        search_key: if whatsapp { whatsapp_key.clone() } else { other_key.clone() },
                    }
                };
                if let Some(pool) = self.one_statement_writer() {
                    let row = match query.fetch_optional(pool).await {
                        Ok(Some(row)) => row,
                        Ok(None) => return Ok(None),
                        Err(e) if is_unique_violation(&e) => return Ok(None),
                        Err(e) => return Err(db_err(e)),
                    };
                    let ConversationRowAnd { conversation, number: epoch } = row;
                    if self.search_counts().keeps(tenant) {
                        self.search_counts().bound(tenant, ticket, epoch);
                        self.search_counts().record_committed(tenant, epoch + 1, &added(&conversation));
                    }
                    return conversation.into_conversation().map(Some);
                }
                let mut tx = self.begin_write().await?;
                let Some(row) = query.fetch_optional(&mut *tx).await.map_err(db_err)? else {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(None);
                };
                let ConversationRowAnd { conversation, number: epoch } = row;
                if self.search_counts().keeps(tenant) {
                    self.search_counts().bound(tenant, ticket, epoch);
                    self.commit_own_epoch(tx, tenant, epoch, &added(&conversation)).await?;
                } else {
                    tx.commit().await.map_err(db_err)?;
                }
                conversation.into_conversation().map(Some)
            }

            /// Gives a customer the names it lacks and re-keys its conversations' search.
            async fn fill_customer_names(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                customer_id: i64,
                new: &switchboard_core::NewConversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let stored: (Option<String>, Option<String>) = sqlx::query_as::<$db, _>(
                    "SELECT first_name, last_name FROM customers WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(customer_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
                Self::fill_read_customer_names(conn, tenant, customer_id, stored, new, now).await
            }

            /// `fill_customer_names` of a customer whose names (`stored`: first, last)
            /// the caller has read in this transaction.
            async fn fill_read_customer_names(
                conn: &mut $conn,
                tenant: switchboard_core::TenantId,
                customer_id: i64,
                stored: (Option<String>, Option<String>),
                new: &switchboard_core::NewConversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                let (first, last) = stored;
                let first_filled = first.is_none() && new.first_name.is_some();
                let last_filled = last.is_none() && new.last_name.is_some();
                if !first_filled && !last_filled {
                    return Ok(());
                }
                let first = first.or_else(|| new.first_name.clone());
                let last = last.or_else(|| new.last_name.clone());
                sqlx::query::<$db>(
                    "UPDATE customers SET first_name = $3, last_name = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(customer_id)
                .bind(&first)
                .bind(&last)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
                Self::rekey_customer(conn, tenant, customer_id).await?;
                Ok(())
            }
        }

        #[cfg(test)]
        #[async_trait::async_trait]
        impl crate::list::ConversationReader for crate::list::SqlxReader<'_, $db> {
            async fn conversations(
                &mut self,
                statement: crate::rows::SqlBuilder,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::Conversation>> {
                <$store>::fetch_hydrated(self.connection().await?, statement).await
            }

            async fn conversations_and_number(
                &mut self,
                statement: crate::rows::SqlBuilder,
            ) -> switchboard_core::store::StoreResult<(Vec<switchboard_core::Conversation>, Option<i64>)> {
                use crate::rows::*;
                let conn = self.connection().await?;
                let rows: Vec<ConversationRowAnd> = bind_all!(sqlx::query_as::<$db, ConversationRowAnd>(&statement.sql), statement.args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let number = rows.first().map(|row| row.number);
                let items = rows
                    .into_iter()
                    .map(|row| row.conversation.into_conversation())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((items, number))
            }

            async fn integers<const N: usize>(
                &mut self,
                statement: crate::rows::SqlBuilder,
            ) -> switchboard_core::store::StoreResult<[i64; N]> {
                use crate::rows::*;
                let conn = self.connection().await?;
                let row = bind_all!(sqlx::query::<$db>(&statement.sql), statement.args)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let mut values = [0; N];
                for (k, value) in values.iter_mut().enumerate() {
                    *value = sqlx::Row::try_get(&row, k).map_err(db_err)?;
                }
                Ok(values)
            }

            fn release(&mut self) {
                self.conn = None;
            }
        }

        #[async_trait::async_trait]
        impl switchboard_core::Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn ping(&self) -> switchboard_core::store::StoreResult<()> {
                sqlx::query::<$db>("SELECT 1")
                    .execute(self.reader())
                    .await
                    .map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn close(&self) {
                self.close_pools().await;
            }

            async fn create_tenant(
                &self,
                name: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::Tenant> {
                let mut tx = self.begin_write().await?;
                let row: crate::rows::TenantRow = sqlx::query_as::<$db, _>(
                    "INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at",
                )
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::rows::db_err)?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(row.into())
            }

            async fn count_tenants(&self) -> switchboard_core::store::StoreResult<i64> {
                sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM tenants")
                    .fetch_one(self.reader())
                    .await
                    .map_err(crate::rows::db_err)
            }

            async fn get_tenant(
                &self,
                id: switchboard_core::TenantId,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Tenant>> {
                let row: Option<crate::rows::TenantRow> =
                    sqlx::query_as::<$db, _>("SELECT id, name, created_at FROM tenants WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn create_user(
                &self,
                user: switchboard_core::NewUser,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::User> {
                let mut tx = self.begin_write().await?;
                let row: crate::rows::UserRow = sqlx::query_as::<$db, _>(
                    "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, email, name, password_hash, created_at",
                )
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if crate::rows::is_unique_violation(&e) {
                        switchboard_core::StoreError::Duplicate("user")
                    } else {
                        crate::rows::db_err(e)
                    }
                })?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(row.into())
            }

            async fn find_user_by_email(
                &self,
                email: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::User>> {
                let row: Option<crate::rows::UserRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn get_user(
                &self,
                id: switchboard_core::UserId,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::User>> {
                let row: Option<crate::rows::UserRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn put_membership(
                &self,
                tenant: switchboard_core::TenantId,
                user: switchboard_core::UserId,
                role: switchboard_core::Role,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO tenant_memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(tenant.0)
                .bind(user.0)
                .bind(role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if crate::rows::is_foreign_key_violation(&e) {
                        switchboard_core::StoreError::NotFound("tenant or user")
                    } else {
                        crate::rows::db_err(e)
                    }
                })?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(())
            }

            async fn membership(
                &self,
                tenant: switchboard_core::TenantId,
                user: switchboard_core::UserId,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Role>> {
                let role: Option<String> = sqlx::query_scalar::<$db, String>(
                    crate::plan::MEMBERSHIP_ROLE,
                )
                .bind(tenant.0)
                .bind(user.0)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                role.map(|r| r.parse().map_err(|_| crate::rows::corrupt("role", &r)))
                    .transpose()
            }

            async fn list_memberships(
                &self,
                user: switchboard_core::UserId,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::Membership>> {
                let rows: Vec<crate::rows::MembershipRow> = sqlx::query_as::<$db, _>(
                    "SELECT t.id AS tenant_id, t.name AS tenant_name, t.created_at AS tenant_created_at, m.role \
                     FROM tenant_memberships m JOIN tenants t ON t.id = m.tenant_id \
                     WHERE m.user_id = $1 ORDER BY t.id",
                )
                .bind(user.0)
                .fetch_all(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn create_access_token(
                &self,
                token: switchboard_core::NewAccessToken,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::AccessToken> {
                let mut tx = self.begin_write().await?;
                let row: crate::rows::AccessTokenRow = sqlx::query_as::<$db, _>(
                    "INSERT INTO access_tokens (user_id, token_hash, name, scopes, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING id, user_id, name, scopes, expires_at, revoked_at, created_at",
                )
                .bind(token.user_id.0)
                .bind(&token.token_hash)
                .bind(&token.name)
                .bind(token.scopes.join(" "))
                .bind(token.expires_at)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if crate::rows::is_foreign_key_violation(&e) {
                        switchboard_core::StoreError::NotFound("user")
                    } else {
                        crate::rows::db_err(e)
                    }
                })?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                Ok(row.into())
            }

            async fn find_access_token(
                &self,
                token_hash: &str,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::AccessToken>> {
                let row: Option<crate::rows::AccessTokenRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, user_id, name, scopes, expires_at, revoked_at, created_at \
                     FROM access_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn list_access_tokens(
                &self,
                user: switchboard_core::UserId,
            ) -> switchboard_core::store::StoreResult<Vec<switchboard_core::AccessToken>> {
                let rows: Vec<crate::rows::AccessTokenRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, user_id, name, scopes, expires_at, revoked_at, created_at \
                     FROM access_tokens WHERE user_id = $1 ORDER BY id",
                )
                .bind(user.0)
                .fetch_all(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_access_token(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<bool> {
                use crate::rows::db_err;
                let mut tx = self.begin_write().await?;
                let revoked_at: Option<Option<chrono::DateTime<chrono::Utc>>> =
                    sqlx::query_scalar::<$db, Option<chrono::DateTime<chrono::Utc>>>(
                        "SELECT revoked_at FROM access_tokens WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                match revoked_at {
                    None => Err(switchboard_core::StoreError::NotFound("access token")),
                    Some(Some(_)) => Ok(false),
                    Some(None) => {
                        let done = sqlx::query::<$db>(
                            "UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                        )
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        tx.commit().await.map_err(db_err)?;
                        Ok(done.rows_affected() == 1)
                    }
                }
            }

            async fn create_channel(
                &self,
                tenant: switchboard_core::TenantId,
                channel: switchboard_core::NewChannel,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::Channel> {
                let mut tx = self.begin_write().await?;
                let row: crate::rows::ChannelRow = sqlx::query_as::<$db, _>(
                    "INSERT INTO channels (tenant_id, type, name, address, inbound_secret_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     RETURNING id, tenant_id, type, name, address, created_at",
                )
                .bind(tenant.0)
                .bind(channel.channel_type.as_str())
                .bind(&channel.name)
                .bind(&channel.address)
                .bind(&channel.inbound_secret_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if crate::rows::is_foreign_key_violation(&e) {
                        switchboard_core::StoreError::NotFound("tenant")
                    } else {
                        crate::rows::db_err(e)
                    }
                })?;
                tx.commit().await.map_err(crate::rows::db_err)?;
                row.try_into()
            }

            async fn get_channel(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Channel>> {
                let row: Option<crate::rows::ChannelRow> = sqlx::query_as::<$db, _>(
                    "SELECT id, tenant_id, type, name, address, created_at FROM channels \
                     WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn create_conversation(
                &self,
                tenant: switchboard_core::TenantId,
                new: switchboard_core::NewConversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::Created<switchboard_core::Conversation>> {
                use crate::rows::db_err;
                use switchboard_core::{Created, StoreError};
                if let Some(conversation) = self.create_in_one_statement(tenant, &new, now).await? {
                    return Ok(Created { value: conversation, created: true });
                }
                // At most two rounds: a concurrent create of the same key makes our
                // insert a no-op, and the second round then finds its row.
                for _ in 0..2 {
                    let mut tx = self.begin_write().await?;
                    if let Some((id, customer_id)) =
                        Self::find_conversation_key(&mut *tx, tenant, new.channel_id, &new.address).await?
                    {
                        Self::fill_customer_names(&mut *tx, tenant, customer_id, &new, now).await?;
                        let conversation = Self::fetch_conversation(&mut *tx, tenant, id, now)
                            .await?
                            .ok_or(StoreError::NotFound("conversation"))?;
                        tx.commit().await.map_err(db_err)?;
                        return Ok(Created { value: conversation, created: false });
                    }
                    let Some((id, added)) = Self::insert_conversation(&mut *tx, tenant, &new, now).await? else {
                        tx.rollback().await.map_err(db_err)?;
                        continue;
                    };
                    let conversation = Self::fetch_conversation(&mut *tx, tenant, id, now)
                        .await?
                        .ok_or(StoreError::NotFound("conversation"))?;
                    self.commit_adding(tx, tenant, &added).await?;
                    return Ok(Created { value: conversation, created: true });
                }
                Err(StoreError::Database(
                    "conversation was created concurrently but cannot be read back".to_string(),
                ))
            }

            async fn add_message(
                &self,
                tenant: switchboard_core::TenantId,
                conversation_id: i64,
                message: switchboard_core::NewMessage,
            ) -> switchboard_core::store::StoreResult<i64> {
                use crate::rows::db_err;
                let sent_at = crate::rows::whole_seconds(message.sent_at);
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO messages (tenant_id, conversation_id, user_id, user_name, is_customer, message_type, body, \
                     status, external_id, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10 \
                     FROM conversations WHERE tenant_id = $1 AND id = $2 RETURNING id",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(message.user_id.map(|u| u.0))
                .bind(&message.user_name)
                .bind(message.is_customer)
                .bind(&message.message_type)
                .bind(&message.body)
                .bind(&message.status)
                .bind(&message.external_id)
                .bind(sent_at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or(switchboard_core::StoreError::NotFound("conversation"))?;
                sqlx::query::<$db>(
                    "UPDATE conversations SET last_message_id = $3, last_message_preview = $4, last_message_at = $5, \
                     last_message_type = $6, last_message_is_customer = $7, \
                     unread_count = unread_count + $8, activity_at = $5, updated_at = $5 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.0)
                .bind(conversation_id)
                .bind(id)
                .bind(&message.body)
                .bind(sent_at)
                .bind(&message.message_type)
                .bind(message.is_customer)
                .bind(i64::from(message.is_customer))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(id)
            }

            async fn get_conversation(
                &self,
                tenant: switchboard_core::TenantId,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<Option<switchboard_core::Conversation>> {
                let mut conn = self.reader().acquire().await.map_err(crate::rows::db_err)?;
                Self::fetch_conversation(&mut conn, tenant, id, now).await
            }

            async fn list_conversations(
                &self,
                tenant: switchboard_core::TenantId,
                filter: &switchboard_core::ConversationFilter,
                page: switchboard_core::PageRequest,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<switchboard_core::PageOf<switchboard_core::Conversation>> {
                let mut reader = self.conversation_reader();
                crate::list::list_conversations(&mut reader, self.search_counts(), self.list_settings(), tenant, filter, page, now).await
            }
        }
    };
}

/// Binds every `Arg` of a `SqlBuilder` to a query, in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                crate::rows::Arg::Int(v) => query.bind(v),
                crate::rows::Arg::Text(v) => query.bind(v),
                crate::rows::Arg::Time(v) => query.bind(v),
            };
        }
        query
    }};
}
