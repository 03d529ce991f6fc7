//! Where message media lives. A local directory by default (in the server crate);
//! an object store can implement the same trait.

use crate::model::TenantId;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` (a relative path of `[a-z0-9-]` segments).
    async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()>;

    /// The bytes under `key`, or `None` when there are none.
    async fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;

    /// Removes the bytes under `key`; nothing there already is no error.
    async fn delete(&self, key: &str) -> std::io::Result<()>;
}

/// What the sweeper did with one file (`FileRecords::sweep_file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSweep {
    /// No live message held it: its bytes and its record are gone.
    Removed,
    /// A live message holds it: kept, and not looked at again until a message
    /// holding it is deleted or it is uploaded again.
    Held,
    /// Uploaded again since it was listed, or already swept by another server: left.
    NotDue,
}

/// The database's record of the files in the file store, so that the bytes of a file
/// no live message holds can be removed without racing an upload of the same bytes
/// (files are named by their content, per tenant). Part of `Store`. Every method
/// takes the tenant, except `files_to_sweep`, the sweeper's work list, which names
/// each file's tenant for the step that follows.
#[async_trait]
pub trait FileRecords: Send + Sync + 'static {
    /// Records an upload of `key` into the tenant's file store, before its bytes are
    /// written: the sweeper leaves a file alone for a grace period after its last
    /// upload (the message that holds it is stored after the bytes), and an upload of
    /// a file the sweeper is removing waits until the removal has committed, then
    /// writes the bytes anew.
    async fn record_file_upload(
        &self,
        tenant: TenantId,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Up to `limit` files due for a look, oldest upload first: last uploaded before
    /// `cutoff`, and not looked at since that upload or since a message holding them
    /// was deleted. Across tenants: each comes with its tenant, for `sweep_file`.
    async fn files_to_sweep(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(TenantId, String)>>;

    /// In one write transaction, holding the file's record: when it is still due
    /// (as `files_to_sweep` says) and no live message of the tenant holds it, removes
    /// its bytes from `files` and its record; when a live message holds it, marks it
    /// looked at. An error from `files` rolls the transaction back: the file stays
    /// due, to be tried again.
    async fn sweep_file(
        &self,
        tenant: TenantId,
        key: &str,
        cutoff: DateTime<Utc>,
        files: &dyn FileStore,
    ) -> StoreResult<std::io::Result<FileSweep>>;
}
