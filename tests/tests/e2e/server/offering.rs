//! Offering end to end: SMS posted to the inbound API become interactions offered to
//! ready agents (longest idle first, never over capacity, one agent at a time),
//! rejected or timed-out offers go elsewhere, freed capacity takes the oldest waiting
//! one, and the agent's operations (`/api/v1/me/interactions/{id}`) from Accept to
//! Send, with the notifications each leaves for the agent's CometD feed. The
//! concurrency test runs on two nodes when the backend is PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{
    TEST_ADMIN_TOKEN, TestApp, eventually, shared_server_runtime, spawn_app,
    test_backend_is_postgres, test_config,
};

use switchyard_tests::gateway::RecordingGateway;
use switchyard_tests::smtp::SmtpSink;

use super::assert_error;
use super::inbound::{accepted, token};
use super::queue::{enable_email, enable_sms};

const RECIPIENT: &str = "+4930555000";
const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(20);

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let mut request = app.admin(method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A group (with `offer_timeout_ms` if given) and a direct connector to it; returns
/// (group id, connector token).
async fn setup(app: &TestApp, timeout_ms: Option<i64>) -> (i64, String) {
    let mut body = json!({ "name": "support" });
    if let Some(ms) = timeout_ms {
        body["offer_timeout_ms"] = json!(ms);
    }
    let group = call(app, Method::POST, "/api/v1/acd-groups", Some(body), 201).await;
    let group = group["id"].as_i64().unwrap();
    let connector = call(
        app,
        Method::POST,
        "/api/v1/connectors/sms",
        Some(
            json!({ "name": "line", "recipient": RECIPIENT, "require_token": true,
                     "routing_type": "direct_acd_group", "acd_group": group }),
        ),
        201,
    )
    .await;
    (group, token(&connector))
}

struct Agent {
    id: i64,
    token: String,
}

/// Creates an agent in `groups` with SMS capacity `capacity`, logs them in and sets
/// them ready on SMS.
async fn ready_agent(app: &TestApp, login: &str, groups: &[i64], capacity: i64) -> Agent {
    let created = call(
        app,
        Method::POST,
        "/api/v1/agents",
        Some(
            json!({ "login": login, "name": login, "password": PASSWORD, "groups": groups,
                     "capacity": { "sms": capacity, "email": 1 } }),
        ),
        201,
    )
    .await;
    let session: Value = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent = Agent {
        id: created["id"].as_i64().unwrap(),
        token: session["token"].as_str().unwrap().to_owned(),
    };
    set_ready(app, &agent, "ready").await;
    agent
}

async fn set_ready(app: &TestApp, agent: &Agent, state: &str) {
    let response = app
        .client
        .put(app.url("/api/v1/me/channels/sms"))
        .bearer_auth(&agent.token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn as_agent(
    app: &TestApp,
    agent: &Agent,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&agent.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Performs `operation` and expects 200; returns the interaction afterwards.
async fn operate(app: &TestApp, agent: &Agent, id: i64, body: Value) -> Value {
    let response = as_agent(
        app,
        agent,
        Method::POST,
        &format!("/api/v1/me/interactions/{id}"),
        Some(body.clone()),
    )
    .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn mine(app: &TestApp, agent: &Agent) -> Vec<Value> {
    let response = as_agent(app, agent, Method::GET, "/api/v1/me/interactions", None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["interactions"].as_array().unwrap().clone()
}

/// Posts an SMS and returns its message id.
async fn post_sms(app: &TestApp, token: &str, text: &str, id: &str) -> i64 {
    accepted(
        app,
        token,
        &json!({ "from": "+4915112345678", "to": RECIPIENT, "text": text, "message_id": id }),
    )
    .await
}

/// The interaction message `message` became, once routed.
async fn interaction_of(app: &TestApp, message: i64) -> Value {
    let id = eventually("the message is routed", WAIT, || async {
        let m = call(
            app,
            Method::GET,
            &format!("/api/v1/messages/{message}"),
            None,
            200,
        )
        .await;
        m["interaction_id"].as_i64()
    })
    .await;
    call(
        app,
        Method::GET,
        &format!("/api/v1/interactions/{id}"),
        None,
        200,
    )
    .await
}

/// Waits until interaction `id` is in `state` (held by `agent`, if given).
async fn until_state(app: &TestApp, id: i64, state: &str, agent: Option<i64>) -> Value {
    eventually(
        &format!("interaction {id} {state} by {agent:?}"),
        WAIT,
        || async {
            let i = call(
                app,
                Method::GET,
                &format!("/api/v1/interactions/{id}"),
                None,
                200,
            )
            .await;
            (i["state"] == state && agent.is_none_or(|a| i["agent_id"] == a)).then_some(i)
        },
    )
    .await
}

/// The agent's stored notifications (what CometD delivers), oldest first.
async fn notifications(app: &TestApp, agent: i64) -> Vec<Value> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT data FROM agent_notifications WHERE agent_id = {agent} ORDER BY id"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect()
}

/// Every agent's notifications in the order they were stored: (agent, data).
async fn all_notifications(app: &TestApp) -> Vec<(i64, Value)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT agent_id, data FROM agent_notifications ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(agent, data)| (agent, serde_json::from_str(&data).unwrap()))
        .collect()
}

fn states(notes: &[Value], id: i64) -> Vec<String> {
    notes
        .iter()
        .filter(|n| n["id"].as_str() == Some(id.to_string().as_str()))
        .map(|n| n["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_sms_is_offered_to_the_longest_idle_agent_who_accepts_replies_and_sends() {
    let gateway = RecordingGateway::start().await;
    let app = spawn_app().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    let (group, connector) = setup(&app, None).await;
    let ann = ready_agent(&app, "ann", &[group], 2).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bob = ready_agent(&app, "bob", &[group], 2).await;

    let message = post_sms(&app, &connector, "Where is my parcel?", "m-1").await;
    let interaction = interaction_of(&app, message).await;
    let id = interaction["id"].as_i64().unwrap();
    // Ann has been ready longer: she is offered it.
    until_state(&app, id, "invited", Some(ann.id)).await;
    let held = mine(&app, &ann).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["capabilities"], json!(["Accept", "Reject"]));
    assert!(mine(&app, &bob).await.is_empty());
    // Bob cannot see or touch it.
    let response = as_agent(
        &app,
        &bob,
        Method::GET,
        &format!("/api/v1/me/interactions/{id}"),
        None,
    )
    .await;
    assert_error(response, 404, "not_found").await;
    let response = as_agent(
        &app,
        &bob,
        Method::POST,
        &format!("/api/v1/me/interactions/{id}"),
        Some(json!({"operationName": "Accept"})),
    )
    .await;
    assert_error(response, 404, "not_found").await;
    // The admin token is not an agent token.
    let response = app
        .admin(Method::GET, "/api/v1/me/interactions")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Outside the capabilities: 409 naming the allowed ones.
    let response = as_agent(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/me/interactions/{id}"),
        Some(json!({"operationName": "Send"})),
    )
    .await;
    let message_text = assert_error(response, 409, "conflict").await;
    assert!(message_text.contains("Accept, Reject"), "{message_text}");
    let response = as_agent(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/me/interactions/{id}"),
        Some(json!({"operationName": "Dance"})),
    )
    .await;
    assert_error(response, 422, "invalid_field").await;
    let response = as_agent(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/me/interactions/{id}"),
        Some(json!({"operationName": "Accept", "workbin": "x"})),
    )
    .await;
    assert_error(response, 422, "invalid_field").await;

    let accepted = operate(&app, &ann, id, json!({"operationName": "Accept"})).await;
    assert_eq!(accepted["state"], "accepted");
    assert_eq!(accepted["capabilities"][0], "Transfer");
    let with_data = operate(
        &app,
        &ann,
        id,
        json!({"operationName": "UpdateProperties", "userData": {"order": "A-17"}}),
    )
    .await;
    assert!(
        with_data["user_data"]
            .as_array()
            .unwrap()
            .contains(&json!(["order", "A-17"])),
        "{with_data}"
    );

    let draft = operate(&app, &ann, id, json!({"operationName": "Reply"})).await;
    assert_eq!(draft["state"], "reply_created");
    assert_eq!(draft["draft"]["to"], json!(["+4915112345678"]));
    assert_eq!(draft["draft"]["from"], RECIPIENT);
    operate(
        &app,
        &ann,
        id,
        json!({"operationName": "UpdateProperties", "text": "It left our depot today."}),
    )
    .await;
    // An empty reply is refused; the draft's text goes out.
    let sent = operate(&app, &ann, id, json!({"operationName": "Send"})).await;
    assert_eq!(sent["state"], "accepted");
    assert!(sent["draft"].is_null());
    let entries = call(&app, Method::GET, "/api/v1/queue?media=sms", None, 200).await;
    let entry = entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["communication"]["body"] == "It left our depot today.")
        .unwrap_or_else(|| panic!("no queue entry for the reply: {entries}"))
        .clone();
    assert_eq!(entry["communication"]["recipient"], "+4915112345678");
    assert_eq!(entry["log"]["created_by"], "agent ann");
    // The queue sends it through the gateway.
    let sent = eventually("the gateway got the reply", WAIT, || async {
        gateway
            .requests()
            .into_iter()
            .find(|r| r.json().to_string().contains("It left our depot today."))
    })
    .await;
    assert!(
        sent.json().to_string().contains("+4915112345678"),
        "{:?}",
        sent.json()
    );
    // Seed 004: the agent's reply puts the conversation In progress.
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let status: String =
        sqlx::query_scalar("SELECT status FROM conversations WHERE contact = '+4915112345678'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(status, "in_progress");

    let done = operate(&app, &ann, id, json!({"operationName": "StopProcessing"})).await;
    assert_eq!(done["state"], "completed");
    assert!(mine(&app, &ann).await.is_empty());

    // What Ann's CometD feed carries, in order, shaped as seed 003 says.
    let notes = notifications(&app, ann.id).await;
    assert_eq!(
        states(&notes, id),
        [
            "Invited",
            "Accepted",
            "Accepted",
            "ReplyCreated",
            "ReplyCreated",
            "Accepted",
            "Completed"
        ]
    );
    let invited = &notes[0];
    assert_eq!(invited["messageTypeName"], "InteractionStateMessage");
    assert_eq!(invited["channel"], "sms");
    assert_eq!(invited["sms_object"]["text"], "Where is my parcel?");
    assert_eq!(invited["currentQueue"], "support");
    assert_eq!(notes[3]["interactionSubType"], "OutboundReply");
    assert!(notifications(&app, bob.id).await.is_empty());
}

#[tokio::test]
async fn a_rejected_offer_goes_to_another_agent_and_an_unanswered_one_is_revoked() {
    let app = spawn_app().await;
    let (group, connector) = setup(&app, Some(1_000)).await;
    let ann = ready_agent(&app, "ann", &[group], 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bob = ready_agent(&app, "bob", &[group], 1).await;

    let message = post_sms(&app, &connector, "hello", "r-1").await;
    let id = interaction_of(&app, message).await["id"].as_i64().unwrap();
    until_state(&app, id, "invited", Some(ann.id)).await;
    operate(&app, &ann, id, json!({"operationName": "Reject"})).await;
    // Bob gets it; Bob does not answer within the group's second: revoked, and back to
    // Ann, who is the only other one.
    until_state(&app, id, "invited", Some(bob.id)).await;
    until_state(&app, id, "invited", Some(ann.id)).await;
    assert_eq!(
        states(&notifications(&app, ann.id).await, id)[..2],
        ["Invited", "Revoked"]
    );
    assert_eq!(
        states(&notifications(&app, bob.id).await, id)[..2],
        ["Invited", "Revoked"]
    );

    // An agent going not ready loses their offer, in the same change (their list is
    // empty as soon as the status is answered), to someone who is ready.
    set_ready(&app, &ann, "not_ready").await;
    assert_eq!(mine(&app, &ann).await, Vec::<Value>::new());
    assert_eq!(
        states(&notifications(&app, ann.id).await, id)
            .last()
            .unwrap(),
        "Revoked"
    );
    until_state(&app, id, "invited", Some(bob.id)).await;

    // Logging out does the same: Bob's offer is revoked before the logout is answered.
    let response = as_agent(
        &app,
        &bob,
        Method::DELETE,
        "/api/v1/agent-sessions/current",
        None,
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        states(&notifications(&app, bob.id).await, id)
            .last()
            .unwrap(),
        "Revoked"
    );
    let after = interaction_of(&app, message).await;
    assert_eq!(after["state"], "queued", "{after}");
}

#[tokio::test]
async fn freed_capacity_takes_the_oldest_waiting_interaction_and_deleting_an_agent_requeues() {
    let app = spawn_app().await;
    let (group, connector) = setup(&app, None).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let message = post_sms(&app, &connector, &format!("no. {n}"), &format!("c-{n}")).await;
        ids.push(interaction_of(&app, message).await["id"].as_i64().unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Nobody ready: all wait.
    for id in &ids {
        until_state(&app, *id, "queued", None).await;
    }
    let ann = ready_agent(&app, "ann", &[group], 1).await;
    until_state(&app, ids[0], "invited", Some(ann.id)).await;
    operate(&app, &ann, ids[0], json!({"operationName": "Accept"})).await;
    // Full: the others keep waiting.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(mine(&app, &ann).await.len(), 1);
    // Finishing frees the slot: the oldest waiting one comes next.
    operate(
        &app,
        &ann,
        ids[0],
        json!({"operationName": "StopProcessing"}),
    )
    .await;
    until_state(&app, ids[1], "invited", Some(ann.id)).await;
    operate(&app, &ann, ids[1], json!({"operationName": "Accept"})).await;
    // A workbin frees capacity too, and PullFromWorkbin needs it back.
    let placed = operate(
        &app,
        &ann,
        ids[1],
        json!({"operationName": "PlaceInWorkbin", "workbin": "Follow up"}),
    )
    .await;
    assert_eq!(placed["state"], "in_workbin");
    until_state(&app, ids[2], "invited", Some(ann.id)).await;
    let bins: Value = as_agent(&app, &ann, Method::GET, "/api/v1/me/workbins", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bins["workbins"][0]["name"], "Follow up");
    assert_eq!(bins["workbins"][0]["interactions"][0]["id"], ids[1]);
    let response = as_agent(
        &app,
        &ann,
        Method::POST,
        &format!("/api/v1/me/interactions/{}", ids[1]),
        Some(json!({"operationName": "PullFromWorkbin"})),
    )
    .await;
    assert_error(response, 409, "conflict").await;

    // Deleting Ann puts what she held back in the queue, for Bob.
    let bob = ready_agent(&app, "bob", &[group], 5).await;
    call(
        &app,
        Method::DELETE,
        &format!("/api/v1/agents/{}", ann.id),
        None,
        204,
    )
    .await;
    until_state(&app, ids[1], "invited", Some(bob.id)).await;
    until_state(&app, ids[2], "invited", Some(bob.id)).await;

    // Transfer to a group and PlaceInQueue hand it back to be offered again.
    operate(&app, &bob, ids[2], json!({"operationName": "Accept"})).await;
    let other = call(
        &app,
        Method::POST,
        "/api/v1/acd-groups",
        Some(json!({"name": "second line"})),
        201,
    )
    .await;
    let moved = operate(
        &app,
        &bob,
        ids[2],
        json!({"operationName": "Transfer", "acdGroup": other["id"]}),
    )
    .await;
    assert_eq!(moved["state"], "queued");
    assert_eq!(moved["acd_group"], other["id"]);
    assert!(mine(&app, &bob).await.iter().all(|i| i["id"] != ids[2]));
}

/// Posts `count` SMS at once while `agents` agents are ready, then checks that no
/// agent ever held more than their capacity and no interaction was offered to two
/// agents at once, by reading the notifications each agent got.
#[tokio::test]
async fn capacity_and_single_offering_hold_under_concurrency() {
    let app = spawn_app().await;
    let (group, connector) = setup(&app, None).await;
    // A second node on the same PostgreSQL database offers too.
    let second = if test_backend_is_postgres() {
        let mut config = test_config(&app.db);
        config.admin_token = Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).unwrap());
        let node =
            switchyard::startup::Application::build_with_runtime(config, shared_server_runtime())
                .await
                .unwrap();
        let address = format!("http://{}", node.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(node.run_until(async move {
            let _ = stopped.await;
        }));
        Some((address, stop, served))
    } else {
        None
    };
    let mut agents = Vec::new();
    for n in 0..6 {
        agents.push(ready_agent(&app, &format!("agent{n}"), &[group], 2).await);
    }
    let count = 40;
    let posts = (0..count).map(|n| {
        let (app, connector, second) = (&app, connector.clone(), second.as_ref().map(|s| s.0.clone()));
        async move {
            let body = json!({ "from": "+4915112345678", "to": RECIPIENT, "text": format!("m{n}"), "message_id": format!("x-{n}") });
            // Half the posts go to the second node, when there is one.
            let url = match (&second, n % 2) {
                (Some(address), 1) => format!("{address}/api/v1/sms/inbound"),
                _ => app.url("/api/v1/sms/inbound"),
            };
            let response = app.client.post(url).bearer_auth(&connector).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 202);
        }
    });
    futures_util::future::join_all(posts).await;
    // 6 agents x 2: twelve offered, the rest waiting.
    let offered = eventually("twelve interactions offered", WAIT, || async {
        let page = call(
            &app,
            Method::GET,
            "/api/v1/interactions?state=invited&limit=1000",
            None,
            200,
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 12).then_some(items)
    })
    .await;
    let mut per_agent: HashMap<i64, usize> = HashMap::new();
    for i in &offered {
        *per_agent
            .entry(i["agent_id"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert!(per_agent.values().all(|n| *n == 2), "{per_agent:?}");
    // Accepting and finishing in a burst keeps both rules.
    let work = agents.iter().map(|agent| {
        let app = &app;
        async move {
            for _ in 0..3 {
                for i in mine(app, agent).await {
                    let id = i["id"].as_i64().unwrap();
                    if i["state"] == "invited" {
                        operate(app, agent, id, json!({"operationName": "Accept"})).await;
                    }
                    operate(app, agent, id, json!({"operationName": "StopProcessing"})).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    futures_util::future::join_all(work).await;
    // Every notification of every agent in the order they were stored: at no point
    // is an interaction offered while someone holds it, nor an agent over capacity.
    let mut holder: HashMap<String, i64> = HashMap::new();
    let mut load: HashMap<i64, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for (agent, note) in all_notifications(&app).await {
        let id = note["id"].as_str().unwrap().to_owned();
        match note["state"].as_str().unwrap() {
            "Invited" => {
                assert!(
                    !holder.contains_key(&id),
                    "{id} offered to {agent} while {:?} holds it",
                    holder.get(&id)
                );
                holder.insert(id.clone(), agent);
                let n = load.entry(agent).or_default();
                *n += 1;
                assert!(*n <= 2, "agent {agent} over capacity");
                seen.insert(id);
            }
            "Completed" | "Revoked" => {
                assert_eq!(holder.remove(&id), Some(agent), "{id}");
                *load.get_mut(&agent).unwrap() -= 1;
            }
            _ => {}
        }
    }
    assert!(seen.len() >= 12, "{seen:?}");
    if let Some((_, stop, served)) = second {
        let _ = stop.send(());
        served.await.unwrap().unwrap();
    }
}

/// Seed 002's user setting: an agent who takes SMS as email gets the SMS in their
/// mailbox, through the queue's SMTP path, when offering picks them.
#[tokio::test]
async fn an_agent_who_takes_sms_as_email_gets_it_by_mail() {
    let sink = SmtpSink::start().await;
    let app = spawn_app().await;
    enable_email(&app, sink.port()).await;
    let (group, connector) = setup(&app, None).await;
    let mailer = ready_agent(&app, "mailer", &[group], 1).await;
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/agents/{}", mailer.id),
        Some(json!({ "sms_delivery": "email", "sms_delivery_address": "mailer@acme.example" })),
        200,
    )
    .await;

    let message = post_sms(&app, &connector, "Please call me back", "e-1").await;
    let id = interaction_of(&app, message).await["id"].as_i64().unwrap();
    let done = until_state(&app, id, "completed", Some(mailer.id)).await;
    assert_eq!(done["agent_id"], mailer.id);
    let mail = sink.wait_for(1, WAIT).await;
    assert_eq!(mail[0].rcpt_tos, ["mailer@acme.example"]);
    assert!(
        mail[0].body_text().contains("Please call me back"),
        "{}",
        mail[0].data
    );
    assert!(
        mail[0].body_text().contains("+4915112345678"),
        "{}",
        mail[0].data
    );
    // Forwarded, not offered: nothing waits in the desktop and no capacity is held, so
    // the next SMS goes the same way.
    assert!(mine(&app, &mailer).await.is_empty());
    let second = post_sms(&app, &connector, "And again", "e-2").await;
    let second = interaction_of(&app, second).await["id"].as_i64().unwrap();
    until_state(&app, second, "completed", Some(mailer.id)).await;
    sink.wait_for(2, WAIT).await;
}

#[tokio::test]
async fn an_agent_whose_session_runs_out_is_made_not_ready_and_loses_their_offers() {
    let app = spawn_app().await;
    let (group, connector) = setup(&app, None).await;
    let ann = ready_agent(&app, "ann", &[group], 1).await;
    let message = post_sms(&app, &connector, "hello", "s-1").await;
    let id = interaction_of(&app, message).await["id"].as_i64().unwrap();
    until_state(&app, id, "invited", Some(ann.id)).await;

    // The session runs out (as if its hours had passed) while the agent is ready.
    let expired = app
        .edit_database(&format!(
            "UPDATE agent_sessions SET expires_at = 1 WHERE agent_id = {}",
            ann.id
        ))
        .await;
    assert_eq!(expired, 1);
    let agent = eventually("the agent made not ready", WAIT, || async {
        let agent = call(
            &app,
            Method::GET,
            &format!("/api/v1/agents/{}", ann.id),
            None,
            200,
        )
        .await;
        // Without a live session the agent shows as not ready at once; the sweep
        // stores it, with its reason.
        (agent["channels"]["sms"]["reason"] == "session expired").then_some(agent)
    })
    .await;
    assert_eq!(agent["channels"]["sms"]["state"], "not_ready", "{agent}");
    let after = until_state(&app, id, "queued", None).await;
    assert_eq!(after["agent_id"], Value::Null, "{after}");
    assert_eq!(
        states(&notifications(&app, ann.id).await, id),
        ["Invited", "Revoked"]
    );
}
