//! Tenant roles on the members API: agents see nothing, admins manage agents, owners
//! also manage admins and owners, and a tenant always keeps an owner.

mod common;

use common::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::*;

backend_tests!(
    agents_cannot_see_or_change_members,
    admins_manage_agents_only,
    owners_manage_admins_and_owners,
    the_last_owner_stays,
    member_scopes_are_enforced,
    removal_takes_effect_at_once,
);

struct M {
    user: i64,
    token: String,
}

async fn member(app: &TestApp, tenant: i64, name: &str, role: Role) -> M {
    let now = app.clock.now();
    let user = app
        .store
        .create_user(
            NewUser {
                email: format!("{name}@example.com"),
                name: name.to_string(),
                password_hash: "x".into(),
            },
            now,
        )
        .await
        .unwrap();
    app.store
        .put_membership(TenantId(tenant), user.id, role, now)
        .await
        .unwrap();
    M {
        user: user.id.0,
        token: app.token(user.id.0, &["read", "write"], Some(3600)).await,
    }
}

async fn tenant(app: &TestApp) -> i64 {
    app.store
        .create_tenant("Roles", app.clock.now())
        .await
        .unwrap()
        .id
        .0
}

async fn call(
    app: &TestApp,
    who: &M,
    tenant: i64,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&who.token)
        .header("X-Tenant", tenant.to_string());
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn error(v: &(u16, Value)) -> (u16, &str) {
    (v.0, v.1["error"].as_str().unwrap_or(""))
}

async fn agents_cannot_see_or_change_members(app: TestApp) {
    let t = tenant(&app).await;
    let agent = member(&app, t, "agent", Role::Agent).await;
    let other = member(&app, t, "other", Role::Agent).await;
    let denied = (403, "insufficient_role");
    let r = call(&app, &agent, t, Method::GET, "/api/v1/members", None).await;
    assert_eq!(error(&r), denied);
    let path = format!("/api/v1/members/{}", other.user);
    let r = call(
        &app,
        &agent,
        t,
        Method::PUT,
        &path,
        Some(json!({"role": "agent"})),
    )
    .await;
    assert_eq!(error(&r), denied);
    let r = call(&app, &agent, t, Method::DELETE, &path, None).await;
    assert_eq!(error(&r), denied);
}

async fn admins_manage_agents_only(app: TestApp) {
    let t = tenant(&app).await;
    let owner = member(&app, t, "owner", Role::Owner).await;
    let admin = member(&app, t, "admin", Role::Admin).await;
    let admin2 = member(&app, t, "admin2", Role::Admin).await;
    let agent = member(&app, t, "agent", Role::Agent).await;
    let (status, list) = call(&app, &admin, t, Method::GET, "/api/v1/members", None).await;
    assert_eq!(status, 200);
    let roles: Vec<(i64, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_i64().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            (owner.user, "owner"),
            (admin.user, "admin"),
            (admin2.user, "admin"),
            (agent.user, "agent")
        ]
    );
    let denied = (403, "insufficient_role");
    // Promoting an agent, demoting or removing an admin or owner: owners only.
    let p = |u: i64| format!("/api/v1/members/{u}");
    for (path, body) in [
        (p(agent.user), Some(json!({"role": "admin"}))),
        (p(agent.user), Some(json!({"role": "owner"}))),
        (p(admin2.user), Some(json!({"role": "agent"}))),
        (p(owner.user), Some(json!({"role": "agent"}))),
    ] {
        let r = call(&app, &admin, t, Method::PUT, &path, body).await;
        assert_eq!(error(&r), denied, "{path}");
    }
    assert_eq!(
        error(&call(&app, &admin, t, Method::DELETE, &p(admin2.user), None).await),
        denied
    );
    assert_eq!(
        error(&call(&app, &admin, t, Method::DELETE, &p(owner.user), None).await),
        denied
    );
    // An agent can be removed by an admin.
    let (status, body) = call(&app, &admin, t, Method::DELETE, &p(agent.user), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["role"], "agent");
    assert_eq!(
        app.store
            .membership(TenantId(t), UserId(agent.user))
            .await
            .unwrap(),
        None
    );
    // Validation and unknown members.
    let r = call(
        &app,
        &admin,
        t,
        Method::PUT,
        &p(admin.user),
        Some(json!({"role": "boss"})),
    )
    .await;
    assert_eq!(error(&r), (422, "validation_failed"));
    assert_eq!(r.1["errors"]["role"][0], "The selected role is invalid.");
    let r = call(
        &app,
        &admin,
        t,
        Method::PUT,
        &p(admin.user),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.1["errors"]["role"][0], "The role field is required.");
    let r = call(&app, &admin, t, Method::DELETE, &p(agent.user), None).await;
    assert_eq!(r.0, 404);
}

async fn owners_manage_admins_and_owners(app: TestApp) {
    let t = tenant(&app).await;
    let owner = member(&app, t, "owner", Role::Owner).await;
    let admin = member(&app, t, "admin", Role::Admin).await;
    let agent = member(&app, t, "agent", Role::Agent).await;
    let elsewhere = tenant(&app).await;
    let stranger = member(&app, elsewhere, "stranger", Role::Owner).await;
    let p = |u: i64| format!("/api/v1/members/{u}");
    let (status, body) = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p(agent.user),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["role"], "admin");
    let (status, _) = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p(admin.user),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p(admin.user),
        Some(json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, &owner, t, Method::DELETE, &p(agent.user), None).await;
    assert_eq!(status, 200, "the promoted agent, now an admin, removed");
    // Another tenant's user is not a member here.
    let (status, _) = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p(stranger.user),
        Some(json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.store
            .membership(TenantId(elsewhere), UserId(stranger.user))
            .await
            .unwrap(),
        Some(Role::Owner)
    );
}

async fn the_last_owner_stays(app: TestApp) {
    let t = tenant(&app).await;
    let owner = member(&app, t, "owner", Role::Owner).await;
    let p = format!("/api/v1/members/{}", owner.user);
    let r = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(error(&r), (422, "validation_failed"));
    assert_eq!(
        r.1["errors"]["role"][0],
        "The tenant must keep at least one owner."
    );
    let r = call(&app, &owner, t, Method::DELETE, &p, None).await;
    assert_eq!(error(&r), (422, "validation_failed"));
    // With a second owner, one may step down.
    let second = member(&app, t, "second", Role::Owner).await;
    let (status, _) = call(
        &app,
        &owner,
        t,
        Method::PUT,
        &p,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200);
    // Two owners demoting each other at the same time leave one owner.
    let third = member(&app, t, "third", Role::Owner).await;
    let (to_third, to_second) = (
        format!("/api/v1/members/{}", third.user),
        format!("/api/v1/members/{}", second.user),
    );
    let (a, b) = futures::join!(
        call(
            &app,
            &second,
            t,
            Method::PUT,
            &to_third,
            Some(json!({"role": "agent"}))
        ),
        call(
            &app,
            &third,
            t,
            Method::PUT,
            &to_second,
            Some(json!({"role": "agent"}))
        ),
    );
    let owners = app
        .store
        .list_members(TenantId(t))
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert!(owners >= 1, "{a:?} {b:?}");
}

async fn member_scopes_are_enforced(app: TestApp) {
    let t = tenant(&app).await;
    let owner = member(&app, t, "owner", Role::Owner).await;
    let agent = member(&app, t, "agent", Role::Agent).await;
    let reader = M {
        user: owner.user,
        token: app.token(owner.user, &["members:read"], Some(60)).await,
    };
    let (status, _) = call(&app, &reader, t, Method::GET, "/api/v1/members", None).await;
    assert_eq!(status, 200);
    let r = call(
        &app,
        &reader,
        t,
        Method::DELETE,
        &format!("/api/v1/members/{}", agent.user),
        None,
    )
    .await;
    assert_eq!(error(&r), (403, "insufficient_scope"));
    let conversations_only = M {
        user: owner.user,
        token: app
            .token(owner.user, &["conversations:read"], Some(60))
            .await,
    };
    let r = call(
        &app,
        &conversations_only,
        t,
        Method::GET,
        "/api/v1/members",
        None,
    )
    .await;
    assert_eq!(error(&r), (403, "insufficient_scope"));
}

async fn removal_takes_effect_at_once(app: TestApp) {
    let t = tenant(&app).await;
    let owner = member(&app, t, "owner", Role::Owner).await;
    let agent = member(&app, t, "agent", Role::Agent).await;
    let (status, _) = call(&app, &agent, t, Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        &owner,
        t,
        Method::DELETE,
        &format!("/api/v1/members/{}", agent.user),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let r = call(&app, &agent, t, Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(error(&r), (403, "tenant_forbidden"));
}
