//! The shared implementation of `FileRecords` (see `shared.rs` for why a macro).

macro_rules! impl_file_records {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl switchboard_core::files::FileRecords for $store {
            async fn record_file_upload(
                &self,
                tenant: switchboard_core::TenantId,
                key: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> switchboard_core::store::StoreResult<()> {
                use crate::rows::db_err;
                // Committed before the bytes are written: a sweeper holding the row
                // makes this wait until its removal has committed.
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO files (tenant_id, key, uploaded_at, sweep_pending) VALUES ($1, $2, $3, TRUE) \
                     ON CONFLICT (tenant_id, key) DO UPDATE SET uploaded_at = excluded.uploaded_at, sweep_pending = TRUE",
                )
                .bind(tenant.0)
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)
            }

            async fn files_to_sweep(
                &self,
                cutoff: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> switchboard_core::store::StoreResult<Vec<(switchboard_core::TenantId, String)>> {
                let due = sqlx::query_as::<$db, (i64, String)>(
                    "SELECT tenant_id, key FROM files WHERE sweep_pending AND uploaded_at < $1 \
                     ORDER BY uploaded_at LIMIT $2",
                )
                .bind(cutoff)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(crate::rows::db_err)?;
                Ok(due
                    .into_iter()
                    .map(|(tenant, key)| (switchboard_core::TenantId(tenant), key))
                    .collect())
            }

            async fn sweep_file(
                &self,
                tenant: switchboard_core::TenantId,
                key: &str,
                cutoff: chrono::DateTime<chrono::Utc>,
                files: &dyn switchboard_core::files::FileStore,
            ) -> switchboard_core::store::StoreResult<std::io::Result<switchboard_core::files::FileSweep>> {
                use crate::rows::db_err;
                use switchboard_core::files::FileSweep;
                let mut tx = self.begin_write().await?;
                // Where writers run side by side, the row lock is what an upload of the
                // same bytes waits on; where a write transaction excludes every other
                // writer, it waits already.
                let sql = format!(
                    "SELECT uploaded_at < $3 AND sweep_pending FROM files WHERE tenant_id = $1 AND key = $2{}",
                    if Self::WRITERS_EXCLUSIVE { "" } else { " FOR UPDATE" }
                );
                let due: Option<bool> = sqlx::query_scalar::<$db, bool>(&sql)
                    .bind(tenant.0)
                    .bind(key)
                    .bind(cutoff)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if due != Some(true) {
                    return Ok(Ok(FileSweep::NotDue));
                }
                let held: Option<i64> = sqlx::query_scalar::<$db, i64>(
                    "SELECT id FROM messages WHERE tenant_id = $1 AND file_path = $2 AND NOT is_deleted LIMIT 1",
                )
                .bind(tenant.0)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let outcome = if held.is_some() {
                    sqlx::query::<$db>("UPDATE files SET sweep_pending = FALSE WHERE tenant_id = $1 AND key = $2")
                        .bind(tenant.0)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    FileSweep::Held
                } else {
                    // Still due: belt and braces with the lock above.
                    let deleted = sqlx::query::<$db>(
                        "DELETE FROM files WHERE tenant_id = $1 AND key = $2 AND sweep_pending AND uploaded_at < $3",
                    )
                    .bind(tenant.0)
                    .bind(key)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if deleted.rows_affected() == 0 {
                        return Ok(Ok(FileSweep::NotDue));
                    }
                    // Before the commit, while the record is held: once it commits, an
                    // upload may write these bytes again, and they must stay.
                    if let Err(e) = files.delete(key).await {
                        return Ok(Err(e));
                    }
                    FileSweep::Removed
                };
                tx.commit().await.map_err(db_err)?;
                Ok(Ok(outcome))
            }
        }
    };
}
