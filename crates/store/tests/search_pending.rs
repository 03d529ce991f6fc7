//! SQLite: a write batch's search entries reach the FTS5 indexes once per batch
//! (migration 0013, `plan::SQLITE_INDEX_PENDING_SEARCH`, `group_commit.rs`), and the
//! indexes stay exactly what the conversations hold through creates, key changes and
//! deletes, whether the row's entries still wait or are indexed already.
//!
//! SQLite only: PostgreSQL's search indexes are its own GIN indexes.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Connection, SqliteConnection};
use std::collections::BTreeSet;
use std::sync::Arc;
use switchboard_core::search::SearchPattern;
use switchboard_core::{
    address, ChannelType, ConversationFilter, NewChannel, NewConversation, PageRequest, Store,
    TenantId,
};
use switchboard_store::plan::SQLITE_INDEX_PENDING_SEARCH;
use switchboard_store::{Database, StoreOptions};

mod common;
use common::{Backend, TestDb};

const INDEXES: [&str; 2] = ["conversation_search", "conversation_digits"];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
}

async fn sqlite_db() -> TestDb {
    TestDb::open(Backend::Sqlite)
        .await
        .expect("SQLite is always available")
}

async fn raw(db: &TestDb) -> SqliteConnection {
    SqliteConnection::connect(&db.url)
        .await
        .expect("open a raw SQLite connection")
}

async fn tenant_with_whatsapp(store: &dyn Store, name: &str) -> (TenantId, i64) {
    let tenant = store.create_tenant(name, now()).await.expect("tenant").id;
    let channel = store
        .create_channel(
            tenant,
            NewChannel {
                channel_type: ChannelType::Whatsapp,
                name: format!("{name} whatsapp"),
                address: format!("{name}-wa"),
                inbound_secret_hash: format!("{:064x}", tenant.0),
            },
            now(),
        )
        .await
        .expect("channel");
    (tenant, channel.id)
}

/// The customer of a new conversation, for the rows a test writes directly.
async fn a_customer(store: &dyn Store, tenant: TenantId, channel: i64) -> i64 {
    store
        .create_conversation(
            tenant,
            NewConversation {
                channel_id: channel,
                address: person(99).1,
                first_name: None,
                last_name: None,
            },
            now(),
        )
        .await
        .expect("a conversation, for its customer")
        .value
        .customer
        .id
}

/// Runs `sql` on the raw connection.
async fn run(conn: &mut SqliteConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Ends a batch as group commit does: its waiting entries into the indexes, then the
/// commit.
async fn commit_batch(conn: &mut SqliteConnection) {
    run(conn, SQLITE_INDEX_PENDING_SEARCH).await;
    run(conn, "COMMIT").await;
}

/// A unique name and phone number for the `i`th conversation of a test.
fn person(i: usize) -> (String, String) {
    let phone = address::normalize(ChannelType::Whatsapp, &format!("+90532{i:07}"))
        .expect("a phone number");
    (format!("bekleyen{i:03}x"), phone)
}

/// FTS5's own check that an index holds exactly the entries of the rows it is built
/// from (`rank` 1: compared with the content table, `conversations`).
async fn assert_indexes_whole(conn: &mut SqliteConnection, context: &str) {
    for index in INDEXES {
        sqlx::query(&format!(
            "INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)"
        ))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{context}: {index} differs from the conversations: {e}"));
    }
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversation_search_pending")
        .fetch_one(&mut *conn)
        .await
        .expect("count the pending entries");
    assert_eq!(waiting, 0, "{context}: no entry waits outside a write");
}

/// The segments an FTS5 index is made of (each has rows in its `_idx` table).
async fn segments(conn: &mut SqliteConnection, index: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT segid) FROM {index}_idx"))
        .fetch_one(&mut *conn)
        .await
        .expect("count segments")
}

/// The conversations the FTS5 table `index` finds for the query `matching`.
async fn index_matches(
    conn: &mut SqliteConnection,
    index: &str,
    matching: String,
) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>(&format!("SELECT rowid FROM {index} WHERE {index} MATCH $1"))
        .bind(matching)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("search {index}: {e}"))
        .into_iter()
        .collect()
}

/// The conversations the index finds for a substring of their search key.
async fn index_finds(conn: &mut SqliteConnection, needle: &str) -> BTreeSet<i64> {
    index_matches(conn, "conversation_search", format!("\"{needle}\"")).await
}

/// The conversations the digits index finds for digits of a phone number.
async fn digits_index_finds(conn: &mut SqliteConnection, digits: &str) -> BTreeSet<i64> {
    index_matches(conn, "conversation_digits", format!("\"{digits}\"*")).await
}

/// What a store that always searches through the indexes (no walk of the list) finds.
async fn store_finds(db: &TestDb, tenant: TenantId, needle: &str) -> BTreeSet<i64> {
    let options = StoreOptions {
        search_walk_max: 0,
        ..StoreOptions::default()
    };
    let store = Database::connect(&db.url, &options)
        .await
        .expect("open the test database again")
        .into_store();
    let filter = ConversationFilter {
        channel_type: None,
        search: Some(SearchPattern::parse(needle).expect("a needle")),
    };
    let page = store
        .list_conversations(
            tenant,
            &filter,
            PageRequest {
                page: 1,
                per_page: 100,
            },
            now(),
        )
        .await
        .expect("search");
    page.items.iter().map(|c| c.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_reach_the_indexes_once_per_batch() {
    let db = sqlite_db().await;
    let (tenant, channel) = tenant_with_whatsapp(db.store.as_ref(), "eszamanli").await;
    let mut conn = raw(&db).await;
    // Keep every segment FTS5 writes, so that the count shows how many there were.
    for index in INDEXES {
        for (setting, value) in [("automerge", 0), ("crisismerge", 1999)] {
            let configure =
                format!("INSERT INTO {index} ({index}, rank) VALUES ('{setting}', {value})");
            run(&mut conn, &configure).await;
        }
    }
    let before = [
        segments(&mut conn, INDEXES[0]).await,
        segments(&mut conn, INDEXES[1]).await,
    ];

    let creates = 64;
    let barrier = Arc::new(tokio::sync::Barrier::new(creates));
    let tasks: Vec<_> = (0..creates)
        .map(|i| {
            let store = Arc::clone(&db.store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let (name, phone) = person(i);
                barrier.wait().await;
                store
                    .create_conversation(
                        tenant,
                        NewConversation {
                            channel_id: channel,
                            address: phone,
                            first_name: Some(name),
                            last_name: None,
                        },
                        now(),
                    )
                    .await
                    .expect("create")
                    .value
                    .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("create task"));
    }

    // Without the pending table every create wrote a segment of its own (FTS5 writes
    // one at each savepoint); now a segment is a batch, and concurrent creates share
    // batches.
    for (k, index) in INDEXES.iter().enumerate() {
        let written = segments(&mut conn, index).await - before[k];
        assert!(
            written >= 1 && written < creates as i64,
            "{index}: {written} segments for {creates} concurrent creates"
        );
    }
    assert_indexes_whole(&mut conn, "after concurrent creates").await;
    for (i, id) in ids.iter().enumerate() {
        let (name, phone) = person(i);
        assert_eq!(
            index_finds(&mut conn, &name).await,
            BTreeSet::from([*id]),
            "{name}"
        );
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(
            digits_index_finds(&mut conn, &digits[digits.len() - 9..]).await,
            BTreeSet::from([*id]),
            "{phone}"
        );
    }
    let (name, _) = person(7);
    assert_eq!(
        store_finds(&db, tenant, &name).await,
        BTreeSet::from([ids[7]]),
        "the store's search finds a conversation of a batch"
    );
}

/// Inserts a conversation on the raw connection (its entries then wait), for the
/// customer `customer`; its id.
async fn insert_conversation(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    channel: i64,
    customer: i64,
    i: usize,
) -> i64 {
    let (name, phone) = person(i);
    let key = switchboard_core::search::conversation_key(Some(&name), None, &phone, Some(&phone));
    sqlx::query_scalar(
        "INSERT INTO conversations (tenant_id, channel_id, channel_type, customer_id, address, \
             search_key, search_digits, activity_at, created_at, updated_at) \
         VALUES ($1, $2, 'whatsapp', $3, $4, $5, $6, $7, $7, $7) RETURNING id",
    )
    .bind(tenant.0)
    .bind(channel)
    .bind(customer)
    .bind(&phone)
    .bind(&key)
    .bind(switchboard_store::plan::stored_search_digits(
        switchboard_store::plan::Dialect::Sqlite,
        &key,
    ))
    .bind(now())
    .fetch_one(&mut *conn)
    .await
    .expect("insert a conversation")
}

/// `insert_conversation` for each of `people`; their ids.
async fn insert_conversations(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    channel: i64,
    customer: i64,
    people: std::ops::Range<usize>,
) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in people {
        ids.push(insert_conversation(conn, tenant, channel, customer, i).await);
    }
    ids
}

async fn set_key(conn: &mut SqliteConnection, id: i64, key: &str) {
    sqlx::query("UPDATE conversations SET search_key = $2, search_digits = $3 WHERE id = $1")
        .bind(id)
        .bind(key)
        .bind(switchboard_store::plan::stored_search_digits(
            switchboard_store::plan::Dialect::Sqlite,
            key,
        ))
        .execute(&mut *conn)
        .await
        .expect("change a search key");
}

async fn delete(conn: &mut SqliteConnection, id: i64) {
    sqlx::query("DELETE FROM conversations WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .expect("delete a conversation");
}

/// Every way a row's key can change in a batch, for a row whose entries still wait
/// and for one already indexed: the indexes end up holding exactly the rows' keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_changes_and_deletes_keep_the_indexes_whole_waiting_or_indexed() {
    let db = sqlite_db().await;
    let (tenant, channel) = tenant_with_whatsapp(db.store.as_ref(), "degisen").await;
    let customer = a_customer(db.store.as_ref(), tenant, channel).await;
    let mut conn = raw(&db).await;

    // Indexed before the batch: four rows, committed with their entries moved.
    run(&mut conn, "BEGIN IMMEDIATE").await;
    let indexed = insert_conversations(&mut conn, tenant, channel, customer, 0..4).await;
    commit_batch(&mut conn).await;
    assert_indexes_whole(&mut conn, "after the first batch").await;

    // One batch: new rows (waiting), changed and deleted, beside indexed rows changed
    // and deleted, with a savepoint rolled back in the middle, as a failed member's.
    run(&mut conn, "BEGIN IMMEDIATE").await;
    let waiting = insert_conversations(&mut conn, tenant, channel, customer, 10..14).await;
    set_key(&mut conn, waiting[0], "yeniadbir\u{1f}+905320000201").await;
    set_key(&mut conn, waiting[0], "yeniadiki\u{1f}+905320000202").await;
    delete(&mut conn, waiting[1]).await;
    set_key(&mut conn, indexed[0], "yeniaduc\u{1f}+905320000203").await;
    set_key(&mut conn, indexed[0], "yeniaddort\u{1f}+905320000204").await;
    delete(&mut conn, indexed[1]).await;
    run(&mut conn, "SAVEPOINT failing").await;
    let rolled_back = insert_conversation(&mut conn, tenant, channel, customer, 20).await;
    set_key(&mut conn, waiting[2], "geriyealinan\u{1f}+905320000205").await;
    set_key(&mut conn, indexed[2], "geriyealinan\u{1f}+905320000206").await;
    run(&mut conn, "ROLLBACK TO failing; RELEASE failing").await;
    commit_batch(&mut conn).await;
    assert_indexes_whole(&mut conn, "after the batch").await;

    // Deletes and a change of rows indexed by that batch, in a batch of their own.
    run(&mut conn, "BEGIN IMMEDIATE").await;
    delete(&mut conn, waiting[3]).await;
    set_key(&mut conn, waiting[2], "sonad\u{1f}+905320000207").await;
    commit_batch(&mut conn).await;
    assert_indexes_whole(&mut conn, "after the last batch").await;

    let name = |i: usize| person(i).0;
    let expect = [
        ("yeniadbir".to_string(), vec![]),
        ("yeniadiki".to_string(), vec![waiting[0]]),
        ("yeniaduc".to_string(), vec![]),
        ("yeniaddort".to_string(), vec![indexed[0]]),
        (name(10), vec![]),
        (name(0), vec![]),
        (name(12), vec![]),
        (name(11), vec![]),
        (name(1), vec![]),
        (name(13), vec![]),
        ("sonad".to_string(), vec![waiting[2]]),
        ("geriyealinan".to_string(), vec![]),
        (name(20), vec![]),
        (name(2), vec![indexed[2]]),
        (name(3), vec![indexed[3]]),
    ];
    for (needle, ids) in expect {
        let ids: BTreeSet<i64> = ids.into_iter().collect();
        assert_eq!(
            index_finds(&mut conn, &needle).await,
            ids,
            "index: {needle}"
        );
        assert_eq!(
            store_finds(&db, tenant, &needle).await,
            ids,
            "store: {needle}"
        );
    }
    for (digits, ids) in [
        ("5320000202", vec![waiting[0]]),
        ("5320000201", vec![]),
        ("5320000204", vec![indexed[0]]),
        ("5320000203", vec![]),
        ("5320000207", vec![waiting[2]]),
        ("5320000205", vec![]),
        ("5320000206", vec![]),
    ] {
        let ids: BTreeSet<i64> = ids.into_iter().collect();
        assert_eq!(
            digits_index_finds(&mut conn, digits).await,
            ids,
            "digits: {digits}"
        );
    }
    let gone: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE id = $1")
        .bind(rolled_back)
        .fetch_one(&mut conn)
        .await
        .expect("look for the rolled back row");
    assert_eq!(gone, 0, "the rolled back insert is not stored");
}

/// A writer that does not move the entries it leaves waiting (another program)
/// leaves conversations no search finds; the store moves them when it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_left_waiting_are_indexed_when_the_store_opens() {
    let db = sqlite_db().await;
    let (tenant, channel) = tenant_with_whatsapp(db.store.as_ref(), "kalan").await;
    let customer = a_customer(db.store.as_ref(), tenant, channel).await;
    let mut conn = raw(&db).await;
    let left = insert_conversation(&mut conn, tenant, channel, customer, 5).await;
    let (name, _) = person(5);
    assert!(
        index_finds(&mut conn, &name).await.is_empty(),
        "the entries of a conversation nobody moved wait outside the index"
    );

    let reopened = Database::connect(&db.url, &StoreOptions::default())
        .await
        .expect("open the database again");
    reopened.migrate().await.expect("migrate");
    assert_indexes_whole(&mut conn, "after the store opened").await;
    assert_eq!(index_finds(&mut conn, &name).await, BTreeSet::from([left]));
    assert_eq!(
        store_finds(&db, tenant, &name).await,
        BTreeSet::from([left])
    );
}
