//! The floor server answers L1's page: the same conversations, in the same order and
//! with the same total, as the store's own list of the seeded tenant (so the floor
//! measures the statement the server runs, not some other one).

use std::sync::Arc;
use switchboard_bench::floor::{self, FloorMode};
use switchboard_bench::{raw, seed};
use switchboard_core::{ConversationFilter, PageRequest, TenantId};
use switchboard_store::{Database, StoreOptions};

async fn seeded(dir: &std::path::Path) -> (String, seed::SeedReport) {
    let url = format!("sqlite://{}", dir.join("floor.db").display());
    let report = seed::seed(&seed::SeedOptions {
        database_url: url.clone(),
        conversations: 300,
        small_tenants: 1,
        small_conversations: 20,
        messages_per_conversation: 3,
        seed: 7,
    })
    .await
    .expect("seed");
    (url, report)
}

async fn start(url: &str, report: &seed::SeedReport, mode: FloorMode) -> String {
    let request = raw::RawRequest::of_big_tenant(report, None, None).expect("request");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}/", listener.local_addr().expect("address"));
    let url = url.to_string();
    tokio::spawn(async move { floor::serve(listener, &url, request, mode).await });
    address
}

async fn page(address: &str) -> serde_json::Value {
    let response = reqwest::get(address).await.expect("GET");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_serves_the_page_the_store_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, report) = seeded(dir.path()).await;
    let tenant = TenantId(report.tenants[0].id);

    let store = Arc::new(
        Database::connect(&url, &StoreOptions::default())
            .await
            .expect("open")
            .into_store(),
    );
    let listed = store
        .list_conversations(
            tenant,
            &ConversationFilter::default(),
            PageRequest {
                page: 1,
                per_page: 15,
            },
            chrono::Utc::now(),
        )
        .await
        .expect("list");
    let listed_ids: Vec<i64> = listed.items.iter().map(|c| c.id).collect();
    assert_eq!(listed_ids.len(), 15);
    assert_eq!(listed.total, 300);

    for mode in [FloorMode::Inline, FloorMode::Blocking, FloorMode::Static] {
        let body = page(&start(&url, &report, mode).await).await;
        let rows = body["data"].as_array().expect("data");
        let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, listed_ids, "{mode:?}");
        assert!(rows.iter().all(|r| r["total"] == 300), "{mode:?}");
        assert!(rows.iter().all(|r| r["tenant_id"] == tenant.0), "{mode:?}");
        // Text columns come through whole (the seeded names are Turkish and English).
        for (row, listed) in rows.iter().zip(&listed.items) {
            assert_eq!(row["address"], listed.address.as_str(), "{mode:?}");
            assert_eq!(
                row["first_name"].as_str(),
                listed.customer.first_name.as_deref(),
                "{mode:?}"
            );
            assert_eq!(
                row["last_message_preview"].as_str(),
                listed
                    .last_message
                    .as_ref()
                    .and_then(|m| m.preview.as_deref()),
                "{mode:?}"
            );
        }
    }
}
