//! The README walk-throughs run as written, on both backends, and the README shows
//! exactly the script that runs the first one.

mod common;

use common::TestApp;
use switchboard::credentials::hash_password;
use switchboard_core::{NewUser, Role};

backend_tests!(
    readme_walkthrough_runs_as_written,
    readme_oauth_walkthrough_runs_as_written
);

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/<script>` with bash and `env`; asserts that it succeeded and that its
/// last line is `last_line`.
async fn run_script(script: &str, env: &[(&str, &str)], last_line: &str) {
    let mut command = tokio::process::Command::new("bash");
    // The CLI reads SWITCHBOARD_* and DATABASE_URL: only the test's own may reach it.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("SWITCHBOARD_") || name == "DATABASE_URL" {
            command.env_remove(&key);
        }
    }
    let output = command
        .arg(repo_root().join("scripts").join(script))
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run bash (curl, jq and openssl must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.lines().last(), Some(last_line), "{stdout}");
}

async fn readme_walkthrough_runs_as_written(app: TestApp) {
    let m = app.member("My Business").await;
    let tenant = m.tenant.to_string();
    let env = [
        ("API", app.base.as_str()),
        ("TOKEN", &m.token),
        ("TENANT", &tenant),
    ];
    run_script("walkthrough.sh", &env, "Walk-through complete.").await;
    // It really did what it says.
    let blocked = app
        .db
        .scalar("SELECT CAST(SUM(blocked_messages) AS BIGINT) FROM channel_blacklists")
        .await;
    assert_eq!(blocked, 1);
}

/// The README's "From zero to a first API call": the CLI registers a client in the
/// server's database, curl signs in and approves on the server's pages, exchanges the
/// code and calls the API.
async fn readme_oauth_walkthrough_runs_as_written(app: TestApp) {
    const EMAIL: &str = "owner@example.com";
    const PASSWORD: &str = "correct horse battery";
    let now = app.now();
    let tenant = app
        .store
        .create_tenant("My Business", now)
        .await
        .expect("tenant");
    let owner = app
        .store
        .create_user(
            NewUser {
                email: EMAIL.into(),
                name: "Owner".into(),
                password_hash: hash_password(PASSWORD).expect("hash"),
            },
            now,
        )
        .await
        .expect("user");
    app.store
        .put_membership(tenant.id, owner.id, Role::Owner, now)
        .await
        .expect("membership");
    let tenant_id = tenant.id.0.to_string();
    let env = [
        ("API", app.base.as_str()),
        ("SWITCHBOARD", env!("CARGO_BIN_EXE_switchboard")),
        ("SWITCHBOARD_DATABASE_URL", &app.db.url),
        ("OWNER_EMAIL", EMAIL),
        ("OWNER_PASSWORD", PASSWORD),
        ("TENANT", &tenant_id),
    ];
    run_script("oauth_walkthrough.sh", &env, "OAuth walk-through complete.").await;
    // It really did what it says: one client, and one access token issued to it for
    // the owner in the owner's tenant.
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM oauth_clients WHERE name = 'My Inbox' AND secret_hash IS NULL")
            .await,
        1
    );
    let issued = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM oauth_access_tokens t \
             JOIN oauth_clients c ON c.id = t.client_id \
             WHERE c.name = 'My Inbox' AND t.user_id = {} AND t.tenant_id = {} \
             AND t.revoked_at IS NULL",
            owner.id.0, tenant.id.0
        ))
        .await;
    assert_eq!(issued, 1);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM oauth_access_tokens")
            .await,
        1
    );
}

#[test]
fn readme_contains_the_script_verbatim() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let script =
        std::fs::read_to_string(repo_root().join("scripts/walkthrough.sh")).expect("script");
    let body: String = script
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(body.trim()),
        "the README's walk-through block must be scripts/walkthrough.sh without its header"
    );
}
