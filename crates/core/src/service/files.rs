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
    /// Files the file store could not remove; each stays due for the next sweep.
    pub failed: usize,
    /// The first of them, with the file store's error.
    pub first_failure: Option<(String, std::io::Error)>,
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
            let mut failed_here = 0;
            for (tenant, key) in due {
                match self
                    .store
                    .sweep_file(tenant, &key, cutoff, self.files.as_ref())
                    .await?
                {
                    Ok(FileSweep::Removed) => report.removed += 1,
                    Ok(FileSweep::Held) => report.held += 1,
                    Ok(FileSweep::NotDue) => {}
                    // One file the store cannot remove (its permissions, say) must not
                    // stop the others: it stays due, and the sweep goes on.
                    Err(e) => {
                        failed_here += 1;
                        report.first_failure.get_or_insert((key, e));
                    }
                }
            }
            report.failed += failed_here;
            // Every listed file but the failed ones has left the list (removed, held,
            // or uploaded again since). The failed ones come first in the next look
            // too, so a look that lists nothing else ends the sweep.
            if listed < SWEEP_BATCH as usize || failed_here == listed {
                return Ok(report);
            }
        }
    }
}
