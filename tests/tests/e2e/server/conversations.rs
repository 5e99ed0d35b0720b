//! Conversations as people manage them (`/api/v1/conversations`, seed 004): the inbox's
//! filters and default view, close, reopen, archive, unarchive and tags with their
//! rules, the activity log with who made each change, a new message reopening a closed
//! conversation, and email threads joining their conversation through a real SMTP
//! server and back.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::smtp::SmtpSink;
use switchyard_tests::{TestApp, plugin_bytes, spawn_app};

use super::assert_error;
use super::connectors::{created, group};
use super::inbound::{accepted, keyword_settings, routed, token};
use super::queue::enable_email;

const RECIPIENT: &str = "+4930123456";

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let response = call(app, method, path, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn inbox(app: &TestApp, query: &str) -> Vec<Value> {
    ok(
        app,
        Method::GET,
        &format!("/api/v1/conversations{query}"),
        None,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn sms(from: &str, text: &str, id: &str) -> Value {
    json!({ "from": from, "to": RECIPIENT, "text": text, "message_id": id })
}

#[tokio::test]
async fn people_close_tag_archive_and_reopen_conversations_and_every_change_is_logged() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "line", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let token = token(&connector);
    for (from, id) in [("+4915100000001", "a-1"), ("+4915100000002", "b-1")] {
        let message = accepted(&app, &token, &sms(from, "hello", id)).await;
        routed(&app, message).await;
    }

    let all = inbox(&app, "").await;
    assert_eq!(all.len(), 2);
    let first = &all[0];
    assert_eq!(first["status"], "new");
    assert_eq!(first["contact"], "+4915100000001");
    assert_eq!(first["channel"], "sms");
    assert_eq!(first["archived"], false);
    let id = first["id"].as_i64().unwrap();
    let path = |what: &str| format!("/api/v1/conversations/{id}{what}");

    // The detail: its message and the log line of its first message.
    let detail = ok(&app, Method::GET, &path(""), None).await;
    assert_eq!(detail["message_ids"].as_array().unwrap().len(), 1);
    let activity = detail["activity"].as_array().unwrap();
    assert_eq!(activity[0]["action"], "inbound");
    assert_eq!(activity[0]["from_status"], "not_contacted");
    assert_eq!(activity[0]["to_status"], "new");
    assert_eq!(
        activity[0]["actor"],
        format!("routing:connector {}", connector["id"])
    );

    // Tags, then close: adding stays allowed, removing is refused with the reason.
    ok(
        &app,
        Method::POST,
        &path("/tags"),
        Some(json!({ "tags": ["vip", "refund"] })),
    )
    .await;
    let tagged = ok(&app, Method::DELETE, &path("/tags/refund"), None).await;
    assert_eq!(tagged["tags"], json!(["vip"]));
    // Archiving an open conversation, or reopening one, is refused.
    let message = assert_error(
        call(&app, Method::POST, &path("/archive"), None).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("close it first"), "{message}");
    assert_error(
        call(&app, Method::POST, &path("/reopen"), None).await,
        409,
        "conflict",
    )
    .await;
    let closed = ok(&app, Method::POST, &path("/close"), None).await;
    assert_eq!(closed["status"], "closed");
    let message = assert_error(
        call(&app, Method::DELETE, &path("/tags/vip"), None).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("locked"), "{message}");
    let more = ok(
        &app,
        Method::POST,
        &path("/tags"),
        Some(json!({ "tags": ["followup"] })),
    )
    .await;
    assert_eq!(more["tags"], json!(["vip", "followup"]));
    assert_error(
        call(
            &app,
            Method::POST,
            &path("/tags"),
            Some(json!({ "tags": ["a\nb"] })),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;

    // Archived: out of the default view, found with archived=true.
    ok(&app, Method::POST, &path("/archive"), None).await;
    assert_eq!(inbox(&app, "").await.len(), 1);
    let archived = inbox(&app, "?archived=true").await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["id"], id);
    assert_eq!(inbox(&app, "?archived=any").await.len(), 2);
    assert_eq!(inbox(&app, "?status=closed&archived=any").await.len(), 1);
    assert_eq!(inbox(&app, "?tag=vip&archived=any").await.len(), 1);
    assert_eq!(
        inbox(&app, "?tag=vi&archived=any").await.len(),
        0,
        "a tag matches whole"
    );
    for pattern in ["follow%25", "followu_"] {
        let found = inbox(&app, &format!("?tag={pattern}&archived=any")).await;
        assert!(found.is_empty(), "LIKE's wildcards match only themselves");
    }
    assert_eq!(inbox(&app, "?contact=%2B4915100000002").await.len(), 1);
    assert_eq!(inbox(&app, "?channel=email").await.len(), 0);
    assert_error(
        call(&app, Method::GET, "/api/v1/conversations?status=open", None).await,
        400,
        "invalid_query",
    )
    .await;

    // The contact writes again: the conversation is New and back in the inbox.
    let again = accepted(&app, &token, &sms("+4915100000001", "still waiting", "a-2")).await;
    routed(&app, again).await;
    let detail = ok(&app, Method::GET, &path(""), None).await;
    assert_eq!(detail["status"], "new");
    assert_eq!(detail["archived"], false);
    assert_eq!(detail["tags"], json!(["vip", "followup"]), "tags survive");
    assert_eq!(detail["message_ids"].as_array().unwrap().len(), 2);
    let actions: Vec<(&str, &str)> = detail["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect();
    let routing = format!("routing:connector {}", connector["id"]);
    assert_eq!(
        actions,
        [
            ("inbound", routing.as_str()),
            ("tags_added", "admin"),
            ("tags_removed", "admin"),
            ("close", "admin"),
            ("tags_added", "admin"),
            ("archive", "admin"),
            ("inbound", routing.as_str()),
        ]
    );
    assert_error(
        call(&app, Method::GET, "/api/v1/conversations/999999", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_email_reply_threads_into_its_conversation_through_a_real_smtp_server() {
    let sink = SmtpSink::start().await;
    let app = spawn_app().await;
    enable_email(&app, sink.port()).await;
    for name in ["billing", "support", "general"] {
        group(&app, name).await;
    }
    let connector = {
        let response = app
            .admin(Method::POST, "/api/v1/connectors/email")
            .json(&json!({ "name": "desk", "addresses": ["desk@shop.example"],
                           "require_token": false, "routing_type": "routing_application",
                           "plugin_settings": keyword_settings() }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()
    };
    let response = app
        .admin(
            Method::POST,
            &format!("/api/v1/connectors/email/{}/plugins", connector["id"]),
        )
        .header("content-type", "application/wasm")
        .body(plugin_bytes("keyword-router"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let post = |raw: String| {
        app.client
            .post(app.url("/api/v1/email/inbound"))
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
    };
    // The customer writes without a keyword: the router answers (its auto-reply).
    let first = post(
        "From: Ann <ann@example.com>\r\nTo: desk@shop.example\r\nSubject: Opening hours\r\n\
         Message-ID: <q1@example.com>\r\n\r\nWhen are you open?\r\n"
            .to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    routed(&app, first["id"].as_i64().unwrap()).await;

    // The queue sent the answer through SMTP, threaded onto the customer's mail and
    // from the connector's address.
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    let answer = &mails[0];
    assert_eq!(answer.mail_from, "desk@shop.example");
    assert_eq!(answer.rcpt_tos, ["ann@example.com"]);
    assert_eq!(
        answer.header("Subject").as_deref(),
        Some("Re: Opening hours")
    );
    assert_eq!(
        answer.header("In-Reply-To").as_deref(),
        Some("q1@example.com")
    );
    assert!(
        answer
            .header("References")
            .unwrap()
            .contains("q1@example.com"),
        "{answer:?}"
    );
    let answer_id = answer
        .header("Message-ID")
        .expect("the answer has a Message-ID");

    // The customer answers from another address with Outlook's habit: In-Reply-To
    // names something unknown here, References the chain. Her answer is the
    // sink's mail posted back, as a relay would.
    let reply = answer
        .data
        .replace(
            "From: desk@shop.example",
            "From: Ann at work <ann.work@example.com>",
        )
        .replace("To: ann@example.com", "To: desk@shop.example")
        .replace(&format!("<{answer_id}>"), "<r2@example.com>")
        .replace(
            "In-Reply-To: <q1@example.com>",
            "In-Reply-To: <outlook-rewritten@example.com>",
        )
        .replace(
            "References: <q1@example.com>",
            &format!("References: <q1@example.com> <{answer_id}>"),
        );
    assert!(reply.contains("<r2@example.com>"), "{reply}");
    let second = post(reply).await.unwrap();
    let status = second.status();
    let second: Value = second.json().await.unwrap();
    assert_eq!(status, 202, "{second}");
    let message = routed(&app, second["id"].as_i64().unwrap()).await;
    assert_eq!(message["from"], "ann.work@example.com");

    // One conversation, Ann's, with both messages.
    let conversations = inbox(&app, "?channel=email").await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["contact"], "ann@example.com");
    let detail = ok(
        &app,
        Method::GET,
        &format!("/api/v1/conversations/{}", conversations[0]["id"]),
        None,
    )
    .await;
    assert_eq!(
        detail["message_ids"],
        json!([first["id"], second["id"]]),
        "{detail}"
    );

    // A new mail from the other address without a thread is that address's own.
    let unrelated = post(
        "From: ann.work@example.com\r\nTo: desk@shop.example\r\nSubject: Other\r\n\
         Message-ID: <u1@example.com>\r\n\r\nSomething else\r\n"
            .to_owned(),
    )
    .await
    .unwrap();
    let unrelated: Value = unrelated.json().await.unwrap();
    routed(&app, unrelated["id"].as_i64().unwrap()).await;
    assert_eq!(inbox(&app, "?channel=email").await.len(), 2);
}
