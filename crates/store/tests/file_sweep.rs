//! The file records that let the sweeper remove a file's bytes once no live message
//! holds them, without racing an upload of the same bytes (files are named by their
//! content, per tenant).

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use switchboard_core::files::{FileStore, FileSweep};
use switchboard_core::{FileRef, OutboundMessage, SendOutcome, Store, TenantId};

mod common;
use common::TestDb;

crate::backend_tests!(
    a_file_goes_when_its_last_live_message_is_deleted,
    an_upload_waits_for_a_removal_of_its_file_then_keeps_it,
    files_stored_before_the_records_are_each_looked_at_once,
    a_file_that_cannot_be_removed_does_not_stop_the_sweep,
);

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid start time")
        + Duration::minutes(minutes)
}

/// A file store that keeps the names it was asked to delete, and can hold a delete
/// until the test lets it finish.
#[derive(Default)]
struct Recording {
    events: Mutex<Vec<String>>,
    hold_deletes: Option<Arc<tokio::sync::Semaphore>>,
    /// A key whose delete fails, as a file without the permission would.
    refuse: Option<String>,
}

impl Recording {
    fn events(&self) -> Vec<String> {
        self.events.lock().expect("events").clone()
    }

    fn note(&self, event: String) {
        self.events.lock().expect("events").push(event);
    }
}

#[async_trait::async_trait]
impl FileStore for Recording {
    async fn put(&self, _key: &str, _bytes: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    async fn get(&self, _key: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn delete(&self, key: &str) -> std::io::Result<()> {
        self.note(format!("delete started {key}"));
        if let Some(hold) = &self.hold_deletes {
            let _go = hold.acquire().await.expect("semaphore open");
        }
        if self.refuse.as_deref() == Some(key) {
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
        self.note(format!("deleted {key}"));
        Ok(())
    }
}

/// Uploads `key` as the upload handler does (recorded, then the message) at `when`.
async fn send_file(
    store: &dyn Store,
    tenant: TenantId,
    conversation: i64,
    key: &str,
    when: DateTime<Utc>,
) -> i64 {
    store
        .record_file_upload(tenant, key, when)
        .await
        .expect("record upload");
    let outcome = store
        .send_message(
            tenant,
            conversation,
            OutboundMessage {
                user_id: None,
                user_name: "Agent".into(),
                message_type: "image".into(),
                body: None,
                quoted_message_id: None,
                file: Some(FileRef {
                    path: key.into(),
                    name: "photo.png".into(),
                    mime_type: "image/png".into(),
                    size: 10,
                }),
            },
            None,
            when,
        )
        .await
        .expect("send");
    match outcome {
        SendOutcome::Sent(message) => message.id,
        other => panic!("not sent: {other:?}"),
    }
}

/// Every due file, swept with `cutoff`; what happened to each, in key order.
async fn sweep(
    store: &dyn Store,
    files: &Recording,
    cutoff: DateTime<Utc>,
) -> Vec<(String, FileSweep)> {
    let mut swept = Vec::new();
    for (tenant, key) in store.files_to_sweep(cutoff, 100).await.expect("list") {
        let outcome = store
            .sweep_file(tenant, &key, cutoff, files)
            .await
            .expect("sweep")
            .expect("file store");
        swept.push((key, outcome));
    }
    swept.sort_by(|a, b| a.0.cmp(&b.0));
    swept
}

async fn a_file_goes_when_its_last_live_message_is_deleted(db: TestDb) {
    let store = db.store.as_ref();
    let tenant = store.create_tenant("A", at(0)).await.expect("tenant").id;
    let other = store.create_tenant("B", at(0)).await.expect("tenant").id;
    let chat = common::conversation_on_a_new_channel(store, tenant, "2001", at(0)).await;
    let others_chat = common::conversation_on_a_new_channel(store, other, "2002", at(0)).await;
    let shared = format!("{}/aaaa.png", tenant.0);
    let single = format!("{}/bbbb.png", tenant.0);
    // The other tenant holds a file under the same name: it is not ours to judge by.
    let first = send_file(store, tenant, chat, &shared, at(1)).await;
    let second = send_file(store, tenant, chat, &shared, at(2)).await;
    let only = send_file(store, tenant, chat, &single, at(3)).await;
    send_file(store, other, others_chat, &shared, at(3)).await;
    let files = Recording::default();

    // Within the grace period nothing is looked at, held or not.
    assert_eq!(sweep(store, &files, at(2)).await, vec![]);
    // After it, each upload is looked at once and found held.
    let held = sweep(store, &files, at(60)).await;
    assert_eq!(
        held,
        vec![
            (shared.clone(), FileSweep::Held),
            (shared.clone(), FileSweep::Held),
            (single.clone(), FileSweep::Held),
        ]
    );
    assert_eq!(
        sweep(store, &files, at(60)).await,
        vec![],
        "held files are not looked at again"
    );

    // One of two messages holding the file deleted: the other still holds it.
    store
        .delete_message(tenant, chat, first, "Agent", at(61))
        .await
        .expect("delete")
        .expect("deleted");
    assert_eq!(
        sweep(store, &files, at(60)).await,
        vec![(shared.clone(), FileSweep::Held)]
    );
    // The last one deleted: the bytes go, in this tenant only.
    store
        .delete_message(tenant, chat, second, "Agent", at(62))
        .await
        .expect("delete")
        .expect("deleted");
    assert_eq!(
        sweep(store, &files, at(60)).await,
        vec![(shared.clone(), FileSweep::Removed)]
    );
    assert_eq!(
        files.events(),
        vec![
            format!("delete started {shared}"),
            format!("deleted {shared}")
        ]
    );
    assert_eq!(
        sweep(store, &files, at(120)).await,
        vec![],
        "nothing left due"
    );
    assert!(store
        .get_message(tenant, chat, only)
        .await
        .expect("read")
        .and_then(|m| m.file)
        .is_some());

    // Uploaded again later, the file is recorded anew and waits out its grace.
    send_file(store, tenant, chat, &shared, at(200)).await;
    assert_eq!(sweep(store, &files, at(200)).await, vec![]);
    assert_eq!(
        sweep(store, &files, at(260)).await,
        vec![(shared.clone(), FileSweep::Held)]
    );
    assert_eq!(files.events().len(), 2, "nothing else deleted");
}

async fn an_upload_waits_for_a_removal_of_its_file_then_keeps_it(db: TestDb) {
    let store = db.store.clone();
    let tenant = store.create_tenant("A", at(0)).await.expect("tenant").id;
    let chat = common::conversation_on_a_new_channel(store.as_ref(), tenant, "2001", at(0)).await;
    let key = format!("{}/cccc.png", tenant.0);
    let message = send_file(store.as_ref(), tenant, chat, &key, at(1)).await;
    store
        .delete_message(tenant, chat, message, "Agent", at(2))
        .await
        .expect("delete")
        .expect("deleted");

    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let files = Arc::new(Recording {
        hold_deletes: Some(hold.clone()),
        ..Recording::default()
    });
    let sweeper = {
        let (store, files, key) = (store.clone(), files.clone(), key.clone());
        tokio::spawn(async move {
            store
                .sweep_file(tenant, &key, at(60), files.as_ref())
                .await
                .expect("sweep")
                .expect("file store")
        })
    };
    // The sweeper is inside its transaction, removing the bytes.
    while files.events().is_empty() {
        tokio::task::yield_now().await;
    }
    let upload = {
        let (store, files, key) = (store.clone(), files.clone(), key.clone());
        tokio::spawn(async move {
            store
                .record_file_upload(tenant, &key, at(61))
                .await
                .expect("record upload");
            files.note(format!("recorded {key}"));
        })
    };
    // Give the upload every chance to overtake the removal: it must not.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hold.add_permits(1);
    assert_eq!(sweeper.await.expect("sweeper"), FileSweep::Removed);
    upload.await.expect("upload");
    assert_eq!(
        files.events(),
        vec![
            format!("delete started {key}"),
            format!("deleted {key}"),
            format!("recorded {key}"),
        ],
        "the upload's record waits for the removal's transaction"
    );
    // The new upload is recorded and due only after its own grace period.
    assert_eq!(
        store.files_to_sweep(at(61), 10).await.expect("list"),
        vec![]
    );
    assert_eq!(
        store.files_to_sweep(at(120), 10).await.expect("list"),
        vec![(tenant, key)]
    );
}

/// The last statement of migration 0012: the records of the files stored before it.
fn backfill_statement(db: &TestDb) -> String {
    let dialect = match db.backend {
        common::Backend::Sqlite => "sqlite",
        common::Backend::Postgres => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect)
        .join("0012_files.sql");
    let migration = std::fs::read_to_string(&path).expect("read migration 0012");
    let start = migration
        .find("INSERT INTO files")
        .expect("0012 ends with the backfill");
    migration[start..].trim().trim_end_matches(';').to_string()
}

async fn files_stored_before_the_records_are_each_looked_at_once(db: TestDb) {
    let store = db.store.as_ref();
    let tenant = store.create_tenant("A", at(0)).await.expect("tenant").id;
    let chat = common::conversation_on_a_new_channel(store, tenant, "2001", at(0)).await;
    let (kept, gone) = (
        format!("{}/dddd.png", tenant.0),
        format!("{}/eeee.png", tenant.0),
    );
    send_file(store, tenant, chat, &kept, at(1)).await;
    let deleted = send_file(store, tenant, chat, &gone, at(1)).await;
    store
        .delete_message(tenant, chat, deleted, "Agent", at(2))
        .await
        .expect("delete")
        .expect("deleted");
    // As a database of version 11 has it at migration 12: messages with files, no
    // records of them.
    let backfill = backfill_statement(&db);
    for statement in ["DELETE FROM files", backfill.as_str()] {
        crate::on_raw_connection!(&db, statement, |conn| async {
            sqlx::query(statement).execute(&mut *conn).await.map(|_| ())
        });
    }

    let files = Recording::default();
    // Recorded at the migration's time (now): due once the grace period after it ends.
    let before_the_migration = Utc::now() - Duration::hours(1);
    assert_eq!(sweep(store, &files, before_the_migration).await, vec![]);
    let after_the_migration = Utc::now() + Duration::hours(2);
    assert_eq!(
        sweep(store, &files, after_the_migration).await,
        vec![(kept, FileSweep::Held), (gone.clone(), FileSweep::Removed)]
    );
    assert_eq!(
        files.events(),
        vec![format!("delete started {gone}"), format!("deleted {gone}")]
    );
    assert_eq!(sweep(store, &files, after_the_migration).await, vec![]);
}

async fn a_file_that_cannot_be_removed_does_not_stop_the_sweep(db: TestDb) {
    let tenant = db.store.create_tenant("A", at(0)).await.expect("tenant").id;
    let chat =
        common::conversation_on_a_new_channel(db.store.as_ref(), tenant, "2001", at(0)).await;
    let keys: Vec<String> = (1..=3).map(|n| format!("{}/f{n}.png", tenant.0)).collect();
    // The file that cannot be removed is the oldest upload: the first one listed.
    for (n, key) in (1..).zip(&keys) {
        let message = send_file(db.store.as_ref(), tenant, chat, key, at(n)).await;
        db.store
            .delete_message(tenant, chat, message, "Agent", at(10))
            .await
            .expect("delete")
            .expect("deleted");
    }
    let files = Arc::new(Recording {
        refuse: Some(keys[0].clone()),
        ..Recording::default()
    });
    let media = switchboard_core::service::MediaFiles::new(
        db.store.clone(),
        files.clone(),
        Arc::new(switchboard_core::ManualClock::new(at(120))),
    );
    let report = media.sweep(Duration::hours(1)).await.expect("sweep");
    assert_eq!((report.removed, report.held, report.failed), (2, 0, 1));
    assert_eq!(
        report.first_failure.map(|(key, _)| key).as_ref(),
        Some(&keys[0])
    );
    // It stays due, and is tried again at the next sweep.
    let again = media.sweep(Duration::hours(1)).await.expect("sweep");
    assert_eq!((again.removed, again.failed), (0, 1));
    assert_eq!(
        files
            .events()
            .iter()
            .filter(|e| e.starts_with("deleted"))
            .count(),
        2
    );
}
