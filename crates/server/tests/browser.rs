//! The authorization-code flow with PKCE in a real browser: headless Chromium
//! (Debian's `/usr/bin/chromium`) driven by `playwright-core` from
//! `tests/browser/flow.js`, against the real server. The test then exchanges the
//! code like a third-party client and calls both seed endpoints with the token.
//!
//! Skipped, with a message saying what is missing, when `node`, Chromium or
//! `tests/browser/node_modules/playwright-core` is not installed. `.ci/run`
//! installs all three and sets `SWITCHBOARD_REQUIRE_BROWSER_TEST`, which turns the
//! skip into a failure.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::TestApp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use switchboard::credentials::hash_password;
use switchboard::oauth::clients::{register, ClientSpec};
use switchboard_core::*;

backend_tests!(authorization_code_flow_in_a_real_browser);

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "a long browser password";

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools(dir: &std::path::Path) -> Option<String> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not installed".into());
    }
    if !chromium().exists() {
        return Some(format!("{} is not installed", chromium().display()));
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!(
            "{}/node_modules/playwright-core is missing (run `npm ci` there)",
            dir.display()
        ));
    }
    None
}

async fn authorization_code_flow_in_a_real_browser(app: TestApp) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Some(why) = missing_tools(&dir) {
        // CI installs the tools and sets this: there, a skip would hide a failure.
        if std::env::var_os("SWITCHBOARD_REQUIRE_BROWSER_TEST").is_some() {
            panic!("the browser test must run, but {why}");
        }
        eprintln!("SKIPPED authorization_code_flow_in_a_real_browser: {why}");
        return;
    }
    let now = app.clock.now();
    let tenant = app
        .store
        .create_tenant("Klinik Şifa", now)
        .await
        .unwrap()
        .id;
    let user = app
        .store
        .create_user(
            NewUser {
                email: "nurse@example.com".into(),
                name: "Nurse".into(),
                password_hash: hash_password(PASSWORD).unwrap(),
            },
            now,
        )
        .await
        .unwrap();
    app.store
        .put_membership(tenant, user.id, Role::Agent, now)
        .await
        .unwrap();
    let channel = app.channel(tenant.0, ChannelType::Whatsapp, "Desk").await;
    let (client, _) = register(
        app.store.as_ref(),
        app.clock.as_ref(),
        tenant,
        ClientSpec {
            name: "Third-party Inbox".into(),
            redirect_uris: vec![REDIRECT.into()],
            public: true,
            scopes: vec!["conversations:read".into(), "conversations:write".into()],
        },
    )
    .await
    .map_err(|e| format!("{e:?}"))
    .unwrap();

    let verifier: String = {
        use rand::Rng;
        rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(64)
            .map(char::from)
            .collect()
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "conversations:read conversations:write")
        .append_pair("state", "browser-state-42")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let authorize_url = app.url(&format!("/oauth/authorize?{query}"));

    let child = tokio::process::Command::new("node")
        .current_dir(&dir)
        .arg("flow.js")
        .arg(&authorize_url)
        .arg(REDIRECT)
        .arg("nurse@example.com")
        .arg(PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the browser flow finishes within two minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(result["login_status"], 200);
    let consent = result["consent"].as_str().unwrap();
    assert!(consent.contains("Third-party Inbox"), "{consent}");
    assert!(consent.contains("See your conversations"), "{consent}");
    assert!(consent.contains("Klinik Şifa"), "{consent}");
    let redirect = result["redirect"].as_str().unwrap();
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    let params: Vec<(String, String)> =
        form_urlencoded::parse(redirect.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| {
        params
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("state").as_deref(), Some("browser-state-42"));
    let code = get("code").expect("code in the redirect");

    // The third-party client: exchange the code with the verifier, call the API.
    let tokens: Value = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("access token");
    let created = app
        .client
        .post(app.url("/api/v1/conversations"))
        .bearer_auth(access)
        .header("X-Tenant", tenant.0.to_string())
        .json(&json!({"channel_id": channel, "address": "+905321234567", "first_name": "Ayşe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let list: Value = app
        .client
        .get(app.url("/api/v1/conversations"))
        .bearer_auth(access)
        .header("X-Tenant", tenant.0.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["display_name"], "Ayşe");
}
