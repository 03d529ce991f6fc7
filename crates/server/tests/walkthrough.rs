//! The README walk-through runs as written, on both backends, and the README shows
//! exactly the script that runs.

mod common;

use common::TestApp;

backend_tests!(readme_walkthrough_runs_as_written);

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn readme_walkthrough_runs_as_written(app: TestApp) {
    let m = app.member("My Business").await;
    let script = repo_root().join("scripts/walkthrough.sh");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .env("API", &app.base)
        .env("TOKEN", &m.token)
        .env("TENANT", m.tenant.to_string())
        .output()
        .await
        .expect("run bash (curl and jq must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walk-through failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Walk-through complete."), "{stdout}");
    // It really did what it says.
    let blocked = app
        .db
        .scalar("SELECT CAST(SUM(blocked_messages) AS BIGINT) FROM channel_blacklists")
        .await;
    assert_eq!(blocked, 1);
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
