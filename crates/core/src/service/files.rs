//! Message media in the file store: an upload is recorded before its bytes are
//! written, and the sweeper removes the bytes that no live message holds any more
//! (see `FileRecords` for how the two stay out of each other's way).

use super::ServiceError;
use crate::clock::Clock;
use crate::files::{FileStore, FileSweep};
use crate::model::TenantId;
use crate::store::{Store, StoreError};
use std::sync::Arc;

/// Files listed per look at the database.
const SWEEP_BATCH: i64 = 100;

#[derive(Clone)]
pub struct MediaFiles {
    store: Arc<dyn Store>,
    files: Arc<dyn FileStore>,
    clock: Arc<dyn Clock>,
}

/// What one sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Files whose bytes are gone.
    pub removed: usize,
    /// Files looked at and kept: a live message holds them.
    pub held: usize,
    /// A file the file store could not remove; the sweep stopped there, and the file
    /// stays due for the next one.
    pub failed: Option<(String, std::io::Error)>,
}

impl MediaFiles {
    pub fn new(store: Arc<dyn Store>, files: Arc<dyn FileStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            files,
            clock,
        }
    }

    /// Writes an upload's bytes under `key`, after recording the upload: from then
    /// on the sweeper leaves the file alone for its grace period, which the message
    /// that will hold it has to be stored in.
    pub async fn put(&self, tenant: TenantId, key: &str, bytes: &[u8]) -> Result<(), ServiceError> {
        self.store
            .record_file_upload(tenant, key, self.clock.now())
            .await?;
        self.files
            .put(key, bytes)
            .await
            .map_err(ServiceError::Files)
    }

    pub async fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.files.get(key).await
    }

    /// Removes the bytes of every due file that no live message holds, of files last
    /// uploaded more than `grace` ago. `grace` must outlast any request: an upload's
    /// message is stored after its bytes are written.
    pub async fn sweep(&self, grace: chrono::Duration) -> Result<SweepReport, StoreError> {
        let cutoff = self.clock.now() - grace;
        let mut report = SweepReport::default();
        loop {
            let due = self.store.files_to_sweep(cutoff, SWEEP_BATCH).await?;
            let listed = due.len();
            for (tenant, key) in due {
                match self
                    .store
                    .sweep_file(tenant, &key, cutoff, self.files.as_ref())
                    .await?
                {
                    Ok(FileSweep::Removed) => report.removed += 1,
                    Ok(FileSweep::Held) => report.held += 1,
                    Ok(FileSweep::NotDue) => {}
                    // It would be listed again at once: leave it to the next sweep.
                    Err(e) => {
                        report.failed = Some((key, e));
                        return Ok(report);
                    }
                }
            }
            // Every listed file has left the list (removed, held, or uploaded again
            // since), so the next look lists others.
            if listed < SWEEP_BATCH as usize {
                return Ok(report);
            }
        }
    }
}
