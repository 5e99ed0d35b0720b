//! Agents end to end: the admin resource (`/api/v1/agents`), logging in and out
//! (`/api/v1/agent-sessions`), the agent token against the admin token, the login
//! throttle, `/api/v1/me` and the status per channel, their metrics and the agent on
//! the request span.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::metrics::Exposition;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestApp, TestDatabase, spawn_app};

use super::assert_error;
use super::process::Server;

const PASSWORD: &str = "correct horse battery";

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// An admin call that must answer `status`; returns the JSON body (`null` if empty).
async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let response = admin(app, method.clone(), path, body).await;
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

async fn create_agent(app: &TestApp, body: Value) -> Value {
    expect(app, Method::POST, "/api/v1/agents", Some(body), 201).await
}

async fn group(app: &TestApp, name: &str) -> i64 {
    let group = expect(
        app,
        Method::POST,
        "/api/v1/acd-groups",
        Some(json!({ "name": name })),
        201,
    )
    .await;
    group["id"].as_i64().unwrap()
}

async fn login(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": login, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Logs in and returns the session token.
async fn token(app: &TestApp, name: &str, password: &str) -> String {
    let response = login(app, name, password).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// A request with an agent's token.
fn agent(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

async fn set_state(app: &TestApp, token: &str, channel: &str, body: Value) -> reqwest::Response {
    agent(
        app,
        Method::PUT,
        &format!("/api/v1/me/channels/{channel}"),
        token,
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn metrics(app: &TestApp) -> Exposition {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Exposition::parse(&text)
}

#[tokio::test]
async fn an_agent_can_be_created_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let billing = group(&app, "billing").await;
    let general = group(&app, "general").await;
    let created = create_agent(
        &app,
        json!({ "login": "anna.k@example", "name": "Anna K", "password": PASSWORD,
                "groups": [general, billing, general], "capacity": { "email": 3 } }),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["login"], "anna.k@example");
    assert_eq!(created["name"], "Anna K");
    let mut groups = vec![billing, general];
    groups.sort();
    assert_eq!(created["groups"], json!(groups), "a set, sorted");
    assert_eq!(created["capacity"], json!({ "sms": 1, "email": 3 }));
    assert_eq!(created["sms_delivery"], "web");
    assert_eq!(created["sms_delivery_address"], Value::Null);
    assert!(created.get("password").is_none(), "{created}");
    assert!(!created.to_string().contains(PASSWORD), "{created}");
    assert!(!created.to_string().contains("argon2"), "{created}");
    for channel in ["sms", "email"] {
        let status = &created["channels"][channel];
        assert_eq!(status["state"], "not_ready", "{created}");
        assert_eq!(status["reason"], Value::Null);
        assert_eq!(status["since"], created["created_at"]);
        assert!(status["since_rfc3339"].as_str().unwrap().ends_with('Z'));
    }
    assert!(created["created_at_rfc3339"].is_string());

    let path = format!("/api/v1/agents/{id}");
    assert_eq!(expect(&app, Method::GET, &path, None, 200).await, created);

    let bob = create_agent(
        &app,
        json!({ "login": "bob", "name": "Bob", "password": PASSWORD, "groups": [general],
                "sms_delivery": "email", "sms_delivery_address": "bob@example.com" }),
    )
    .await;
    assert_eq!(bob["sms_delivery_address"], "bob@example.com");
    let page = expect(&app, Method::GET, "/api/v1/agents", None, 200).await;
    let logins: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["anna.k@example", "bob"]);
    assert_eq!(page["next_after"], Value::Null);
    let first = expect(&app, Method::GET, "/api/v1/agents?limit=1", None, 200).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["next_after"], json!(id));
    let rest = expect(
        &app,
        Method::GET,
        &format!("/api/v1/agents?after={id}"),
        None,
        200,
    )
    .await;
    assert_eq!(rest["items"][0]["login"], "bob");
    let in_billing = expect(
        &app,
        Method::GET,
        &format!("/api/v1/agents?acd_group={billing}"),
        None,
        200,
    )
    .await;
    assert_eq!(in_billing["items"].as_array().unwrap().len(), 1);
    assert_eq!(in_billing["items"][0]["id"], json!(id));
    assert_error(
        admin(&app, Method::GET, "/api/v1/agents?acd_group=9999", None).await,
        404,
        "not_found",
    )
    .await;

    // PATCH merges: capacity per channel, the rest kept, the password kept.
    let patched = expect(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "capacity": { "sms": 4 }, "name": "Anna Kay" })),
        200,
    )
    .await;
    assert_eq!(patched["capacity"], json!({ "sms": 4, "email": 3 }));
    assert_eq!(patched["name"], "Anna Kay");
    assert_eq!(patched["groups"], created["groups"]);
    assert!(patched["updated_at"].as_i64() >= created["updated_at"].as_i64());
    assert_eq!(login(&app, "anna.k@example", PASSWORD).await.status(), 201);

    // PUT states the whole agent; without a password the stored one is kept.
    let replaced = expect(
        &app,
        Method::PUT,
        &path,
        Some(json!({ "login": "anna", "name": "Anna" })),
        200,
    )
    .await;
    assert_eq!(replaced["groups"], json!([]));
    assert_eq!(replaced["capacity"], json!({ "sms": 1, "email": 1 }));
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_eq!(login(&app, "anna", PASSWORD).await.status(), 201);
    assert_error(
        login(&app, "anna.k@example", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    // A new password replaces the old one and ends the sessions made with the old one.
    let old_session = token(&app, "anna", PASSWORD).await;
    expect(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "password": "a brand new passphrase" })),
        200,
    )
    .await;
    assert_error(
        login(&app, "anna", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let response = agent(&app, Method::GET, "/api/v1/me", &old_session)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let session = token(&app, "anna", "a brand new passphrase").await;

    // Deleting the agent ends its sessions too.
    expect(&app, Method::DELETE, &path, None, 204).await;
    assert_error(
        admin(&app, Method::GET, &path, None).await,
        404,
        "not_found",
    )
    .await;
    let response = agent(&app, Method::GET, "/api/v1/me", &session)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let body = (method != Method::DELETE).then(|| json!({ "login": "x", "name": "x" }));
        assert_error(admin(&app, method, &path, body).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn bad_agents_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let general = group(&app, "general").await;
    let base = json!({ "login": "anna", "name": "Anna", "password": PASSWORD });
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value;
        }
        body
    };
    let cases = [
        (with("login", json!("an na")), "login"),
        (with("login", json!("x".repeat(65))), "login"),
        (with("login", json!("")), "login"),
        (with("login", json!(7)), "login"),
        (with("name", json!("")), "name"),
        (with("password", json!("short")), "password"),
        (with("password", json!("p".repeat(257))), "password"),
        (with("password", Value::Null), "password"),
        (with("groups", json!([general, 9999])), "groups"),
        (with("groups", json!("general")), "groups"),
        (with("capacity", json!({ "sms": 101 })), "capacity.sms"),
        (with("capacity", json!({ "email": -1 })), "capacity.email"),
        (with("capacity", json!({ "fax": 1 })), "capacity.fax"),
        (with("sms_delivery", json!("pigeon")), "sms_delivery"),
        (with("sms_delivery", json!("email")), "sms_delivery_address"),
        (
            with("sms_delivery_address", json!("anna@example.com")),
            "sms_delivery_address",
        ),
        (with("colour", json!("red")), "colour"),
    ];
    for (body, field) in cases {
        let response = admin(&app, Method::POST, "/api/v1/agents", Some(body.clone())).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_field", "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let mut bad_address = with("sms_delivery", json!("email"));
    bad_address["sms_delivery_address"] = json!("not an address");
    let response = admin(&app, Method::POST, "/api/v1/agents", Some(bad_address)).await;
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.starts_with("sms_delivery_address: "), "{message}");

    let response = app
        .admin(Method::POST, "/api/v1/agents")
        .header("content-type", "application/json")
        .body(r#"{"login": "anna", "#)
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "malformed_json").await;
    let page = expect(&app, Method::GET, "/api/v1/agents", None, 200).await;
    assert_eq!(page["items"], json!([]), "nothing was stored");

    // A second agent with a taken login is a conflict; a bad patch changes nothing.
    let anna = create_agent(&app, base.clone()).await;
    let message = assert_error(
        admin(&app, Method::POST, "/api/v1/agents", Some(base.clone())).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("`anna`"), "{message}");
    let path = format!("/api/v1/agents/{}", anna["id"]);
    for (patch, field) in [
        (json!({ "capacity": { "sms": 1000 } }), "capacity.sms"),
        (json!({ "sms_delivery": "email" }), "sms_delivery_address"),
        (json!({ "groups": [9999] }), "groups"),
        (json!({ "name": null }), "name"),
        (json!({ "password": "short" }), "password"),
    ] {
        let response = admin(&app, Method::PATCH, &path, Some(patch.clone())).await;
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{patch}: {error}");
    }
    assert_eq!(expect(&app, Method::GET, &path, None, 200).await, anna);
    assert_eq!(login(&app, "anna", PASSWORD).await.status(), 201);
}

#[tokio::test]
async fn deleting_a_group_takes_it_out_of_its_agents_groups() {
    let app = spawn_app().await;
    let billing = group(&app, "billing").await;
    let general = group(&app, "general").await;
    let anna = create_agent(
        &app,
        json!({ "login": "anna", "name": "Anna", "password": PASSWORD,
                "groups": [billing, general] }),
    )
    .await;
    expect(
        &app,
        Method::DELETE,
        &format!("/api/v1/acd-groups/{billing}"),
        None,
        204,
    )
    .await;
    let after = expect(
        &app,
        Method::GET,
        &format!("/api/v1/agents/{}", anna["id"]),
        None,
        200,
    )
    .await;
    assert_eq!(after["groups"], json!([general]));
}

#[tokio::test]
async fn logging_in_gives_a_token_that_is_not_an_admin_token_and_logging_out_ends_it() {
    let app = spawn_app().await;
    let anna = create_agent(
        &app,
        json!({ "login": "anna", "name": "Anna", "password": PASSWORD }),
    )
    .await;
    let before = switchyard::store::now_ms();
    let response = login(&app, "anna", PASSWORD).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{session}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(session["agent_id"], anna["id"]);
    let expires = session["expires_at"].as_i64().unwrap();
    let twelve_hours = 12 * 3_600 * 1_000;
    assert!(
        (before + twelve_hours..=switchyard::store::now_ms() + twelve_hours).contains(&expires),
        "{session}"
    );
    assert!(session["expires_at_rfc3339"].is_string(), "{session}");
    // Only the token's digest is stored.
    let touch = |digest: String| {
        format!("UPDATE agent_sessions SET created_at = created_at WHERE token_digest = '{digest}'")
    };
    assert_eq!(app.edit_database(&touch(token.clone())).await, 0);
    let digest = switchyard::domain::agents::sessions::digest(&token);
    assert_eq!(app.edit_database(&touch(digest)).await, 1);

    // The agent token opens /me and nothing of the admin API.
    let me: Value = agent(&app, Method::GET, "/api/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], anna["id"]);
    assert_eq!(me["login"], "anna");
    assert!(me.get("password").is_none());
    for path in ["/api/v1/agents", "/api/v1/acd-groups"] {
        let response = agent(&app, Method::GET, path, &token).send().await.unwrap();
        let message = assert_error(response, 401, "unauthorized").await;
        assert_eq!(message, "wrong admin token");
    }
    // The admin token is not an agent token; nor is nothing.
    for path in ["/api/v1/me", "/api/v1/me/channels"] {
        let response = agent(&app, Method::GET, path, TEST_ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let message = assert_error(response, 401, "unauthorized").await;
        assert!(message.contains("agent session"), "{message}");
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(response, 401, "unauthorized").await;
    }
    let response = agent(
        &app,
        Method::DELETE,
        "/api/v1/agent-sessions/current",
        TEST_ADMIN_TOKEN,
    )
    .send()
    .await
    .unwrap();
    assert_error(response, 401, "unauthorized").await;

    // Two sessions; logging out of one ends that one only, and makes the agent not ready.
    let other = self::token(&app, "anna", PASSWORD).await;
    let ready = set_state(&app, &token, "sms", json!({ "state": "ready" })).await;
    assert_eq!(ready.status(), 200);
    let response = agent(
        &app,
        Method::DELETE,
        "/api/v1/agent-sessions/current",
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 204);
    let response = agent(&app, Method::GET, "/api/v1/me", &token)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = agent(
        &app,
        Method::DELETE,
        "/api/v1/agent-sessions/current",
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let me: Value = agent(&app, Method::GET, "/api/v1/me", &other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["channels"]["sms"]["state"], "not_ready", "{me}");
}

#[tokio::test]
async fn a_wrong_login_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    create_agent(
        &app,
        json!({ "login": "anna", "name": "Anna", "password": PASSWORD }),
    )
    .await;
    let wrong_password = login(&app, "anna", "not the password").await;
    assert_eq!(wrong_password.headers()["www-authenticate"], "Bearer");
    let wrong_password = assert_error(wrong_password, 401, "invalid_credentials").await;
    let unknown = assert_error(
        login(&app, "nobody", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong_password, unknown);
    // Logins are exact.
    assert_error(
        login(&app, "Anna", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    // Bodies that cannot be a login attempt are refused as such.
    for (body, status, field) in [
        (json!({ "login": "anna" }), 422, Some("password")),
        (
            json!({ "login": "", "password": PASSWORD }),
            422,
            Some("login"),
        ),
        (
            json!({ "login": "anna", "password": "p".repeat(257) }),
            422,
            Some("password"),
        ),
        (
            json!({ "login": "anna", "password": 5 }),
            422,
            Some("password"),
        ),
        (
            json!({ "login": "anna", "password": PASSWORD, "remember": true }),
            422,
            Some("remember"),
        ),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/agent-sessions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"].as_str(), field, "{body}: {error}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .header("content-type", "application/json")
        .body("{\"login\":")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "malformed_json").await;

    let exposition = metrics(&app).await;
    let logins =
        |outcome: &str| exposition.value("switchyard_agent_logins_total", &[("outcome", outcome)]);
    assert_eq!(logins("invalid_credentials"), 3.0);
    assert_eq!(logins("ok"), 0.0);
}

#[tokio::test]
async fn five_failed_logins_slow_down_that_login_until_the_window_passes() {
    let app = spawn_app().await;
    for name in ["anna", "bob"] {
        create_agent(
            &app,
            json!({ "login": name, "name": name, "password": PASSWORD }),
        )
        .await;
    }
    for _ in 0..5 {
        assert_error(
            login(&app, "anna", "guess").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Now even the right password waits, and is told for how long.
    let response = login(&app, "anna", PASSWORD).await;
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "Retry-After: {wait}");
    let message = assert_error(response, 429, "too_many_attempts").await;
    assert!(message.contains("try again"), "{message}");
    assert_error(login(&app, "anna", "guess").await, 429, "too_many_attempts").await;
    // Other logins are not affected; unknown logins are throttled alike.
    assert_eq!(login(&app, "bob", PASSWORD).await.status(), 201);
    for _ in 0..5 {
        assert_error(
            login(&app, "ghost", "guess").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_error(
        login(&app, "ghost", "guess").await,
        429,
        "too_many_attempts",
    )
    .await;

    // Fifteen minutes later (the failures aged in the database), the login works.
    app.edit_database("UPDATE agent_login_failures SET at = at - 900000")
        .await;
    assert_eq!(login(&app, "anna", PASSWORD).await.status(), 201);
    // A success forgets the earlier failures: four more failures do not block.
    app.edit_database("UPDATE agent_login_failures SET at = at + 900000")
        .await;
    for _ in 0..4 {
        assert_error(
            login(&app, "anna", "guess").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(login(&app, "anna", PASSWORD).await.status(), 201);

    let exposition = metrics(&app).await;
    let logins =
        |outcome: &str| exposition.value("switchyard_agent_logins_total", &[("outcome", outcome)]);
    assert_eq!(logins("too_many_attempts"), 3.0);
    assert_eq!(logins("invalid_credentials"), 14.0);
    assert_eq!(logins("ok"), 3.0);
}

#[tokio::test]
async fn an_agent_goes_ready_and_not_ready_per_channel_and_admins_see_it() {
    let app = spawn_app().await;
    let anna = create_agent(
        &app,
        json!({ "login": "anna", "name": "Anna", "password": PASSWORD }),
    )
    .await;
    let admin_path = format!("/api/v1/agents/{}", anna["id"]);
    let token = token(&app, "anna", PASSWORD).await;

    let response = set_state(&app, &token, "sms", json!({ "state": "ready" })).await;
    assert_eq!(response.status(), 200);
    let sms: Value = response.json().await.unwrap();
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["state"], "ready");
    assert_eq!(sms["reason"], Value::Null);
    let since = sms["since"].as_i64().unwrap();
    assert!(since >= anna["created_at"].as_i64().unwrap());
    assert!(sms["since_rfc3339"].is_string(), "{sms}");

    // Saying it again keeps `since`.
    let again: Value = set_state(&app, &token, "sms", json!({ "state": "ready" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["since"], sms["since"]);

    let email: Value = set_state(
        &app,
        &token,
        "email",
        json!({ "state": "not_ready", "reason": "training" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(email["reason"], "training");

    let channels: Value = agent(&app, Method::GET, "/api/v1/me/channels", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(channels["sms"]["state"], "ready");
    assert_eq!(channels["sms"]["since"], sms["since"]);
    assert_eq!(channels["email"]["state"], "not_ready");
    assert_eq!(channels["email"]["reason"], "training");
    let one: Value = agent(&app, Method::GET, "/api/v1/me/channels/email", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["reason"], "training");

    let seen = expect(&app, Method::GET, &admin_path, None, 200).await;
    assert_eq!(seen["channels"]["sms"]["state"], "ready");
    assert_eq!(seen["channels"]["email"]["reason"], "training");
    let listed = expect(&app, Method::GET, "/api/v1/agents", None, 200).await;
    assert_eq!(listed["items"][0]["channels"], seen["channels"]);
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.get("switchyard_agents_ready", &[("channel", "sms")]),
        Some(1.0)
    );
    assert_eq!(
        exposition.get("switchyard_agents_ready", &[("channel", "email")]),
        Some(0.0)
    );

    // Bad requests name what is wrong and change nothing.
    for (channel, body, status, code, field) in [
        (
            "fax",
            json!({ "state": "ready" }),
            404,
            "not_found",
            "channel",
        ),
        (
            "device",
            json!({ "state": "ready" }),
            404,
            "not_found",
            "channel",
        ),
        (
            "sms",
            json!({ "state": "busy" }),
            422,
            "invalid_field",
            "state",
        ),
        ("sms", json!({}), 422, "invalid_field", "state"),
        (
            "sms",
            json!({ "state": "ready", "reason": "lunch" }),
            422,
            "invalid_field",
            "reason",
        ),
        (
            "sms",
            json!({ "state": "not_ready", "reason": "r".repeat(129) }),
            422,
            "invalid_field",
            "reason",
        ),
        (
            "sms",
            json!({ "state": "not_ready", "reason": 5 }),
            422,
            "invalid_field",
            "reason",
        ),
        (
            "sms",
            json!({ "state": "not_ready", "mood": "meh" }),
            422,
            "invalid_field",
            "mood",
        ),
    ] {
        let response = set_state(&app, &token, channel, body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{channel} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let message = assert_error(
        set_state(&app, &token, "fax", json!({ "state": "ready" })).await,
        404,
        "not_found",
    )
    .await;
    assert!(message.contains("`fax`"), "{message}");
    let unchanged = expect(&app, Method::GET, &admin_path, None, 200).await;
    assert_eq!(unchanged["channels"], seen["channels"]);

    // Logging out makes the agent not ready on every channel.
    let response = agent(
        &app,
        Method::DELETE,
        "/api/v1/agent-sessions/current",
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 204);
    let after = expect(&app, Method::GET, &admin_path, None, 200).await;
    assert_eq!(after["channels"]["sms"]["state"], "not_ready", "{after}");
    assert_eq!(after["channels"]["email"]["state"], "not_ready");
    assert_eq!(after["channels"]["email"]["reason"], Value::Null);
    assert!(after["channels"]["sms"]["since"].as_i64().unwrap() >= since);
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.get("switchyard_agents_ready", &[("channel", "sms")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_agent_whose_session_ran_out_is_not_ready_and_starts_not_ready_again() {
    let app = spawn_app().await;
    let anna = create_agent(
        &app,
        json!({ "login": "anna", "name": "Anna", "password": PASSWORD }),
    )
    .await;
    let admin_path = format!("/api/v1/agents/{}", anna["id"]);
    let token = token(&app, "anna", PASSWORD).await;
    let response = set_state(&app, &token, "email", json!({ "state": "ready" })).await;
    assert_eq!(response.status(), 200);

    // The session runs out without a logout, after the agent went ready.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let expired_at = switchyard::store::now_ms() - 5;
    app.edit_database(&format!(
        "UPDATE agent_sessions SET expires_at = {expired_at}"
    ))
    .await;
    let response = agent(&app, Method::GET, "/api/v1/me", &token)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let seen = expect(&app, Method::GET, &admin_path, None, 200).await;
    assert_eq!(seen["channels"]["email"]["state"], "not_ready", "{seen}");
    assert_eq!(seen["channels"]["email"]["since"], json!(expired_at));
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.get("switchyard_agents_ready", &[("channel", "email")]),
        Some(0.0)
    );

    // A new login starts not ready, whatever was stored.
    let token = self::token(&app, "anna", PASSWORD).await;
    let channels: Value = agent(&app, Method::GET, "/api/v1/me/channels", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(channels["email"]["state"], "not_ready", "{channels}");
    assert!(channels["email"]["since"].as_i64().unwrap() > expired_at);
}

#[tokio::test]
async fn agent_requests_carry_the_agent_on_their_span() {
    let db = TestDatabase::new().await;
    let mut server = Server::start_with_env(
        &db.url,
        TEST_ADMIN_TOKEN,
        &[("RUST_LOG", "info"), ("SWITCHYARD_LOG_FORMAT", "json")],
    );
    let address = server.wait_for("switchyard: listening on ");
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{address}/api/v1/agents"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .json(&json!({ "login": "anna", "name": "Anna", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session: Value = client
        .post(format!("{address}/api/v1/agent-sessions"))
        .json(&json!({ "login": "anna", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    let response = client
        .put(format!("{address}/api/v1/me/channels/sms"))
        .bearer_auth(token)
        .json(&json!({ "state": "ready" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    let lines: Vec<Value> = stderr
        .iter()
        .filter(|l| !l.starts_with("switchyard: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let status_line = lines
        .iter()
        .find(|l| l["fields"]["message"] == "agent status")
        .unwrap_or_else(|| panic!("no status line: {lines:#?}"));
    let request = status_line["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "request")
        .unwrap_or_else(|| panic!("no request span: {status_line}"));
    assert_eq!(request["agent"], created["id"], "{status_line}");
    let text = stderr.join("\n");
    assert!(!text.contains(token), "the token is never logged");
    assert!(!text.contains(PASSWORD), "the password is never logged");
    drop(db);
}
