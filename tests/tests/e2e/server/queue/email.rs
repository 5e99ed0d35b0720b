//! Seed 000's Emails table, row by row, with a real SMTP server (aiosmtpd) receiving
//! what the host sends through lettre.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard_tests::smtp::SmtpSink;

use super::*;

fn outgoing(recipient: &str) -> Value {
    json!({ "media": "email", "recipient": recipient, "subject": "Your ticket 4711",
            "body": "Hello Bob,\nwe are on it. Grüße!" })
}

#[tokio::test]
async fn the_email_table_row_by_row() {
    let sink = SmtpSink::start().await;
    let app = app_without_worker().await;
    enable_email(&app, sink.port()).await;

    // Incoming, Enabled -> Rejected "Incoming Emails not Supported".
    let mut incoming = outgoing("bob@example.com");
    incoming["direction"] = json!("incoming");
    let entry = create(&app, incoming).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_description"], "Incoming Emails not Supported");
    assert_eq!(done["status"], "unsent");

    // Outgoing, Not Enabled -> Rejected "Email Server not Enabled" (it entered while
    // the server was enabled; the settings changed before it was processed).
    let entry = create(&app, outgoing("bob@example.com")).await;
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(json!({ "enabled": false })),
        200,
    )
    .await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_description"], "Email Server not Enabled");
    enable_email(&app, sink.port()).await;

    // Outgoing, Enabled, other errors -> Rejected with the server's description.
    let entry = create(&app, outgoing("reject-me@example.com")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error_code"], "550");
    assert!(
        done["error_description"]
            .as_str()
            .unwrap()
            .contains("mailbox unavailable"),
        "{done}"
    );
    assert_eq!(done["attempts"], 1, "a permanent refusal is not retried");

    // Outgoing, Enabled, no errors -> Completed, and the server has the message.
    let entry = create(&app, outgoing("bob@example.com")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["status"], "sent");
    assert_eq!(statuses(&done), ["pending", "sending", "sent"]);
    assert!(
        done["result"].as_str().unwrap().starts_with("250"),
        "{done}"
    );
    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        mails.len(),
        1,
        "only the completed entry reached the server"
    );
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "desk@acme.example");
    assert_eq!(mail.rcpt_tos, ["bob@example.com"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Your ticket 4711"));
    assert!(
        mail.header("Message-ID")
            .unwrap()
            .contains(&format!("switchyard-queue-{}", entry["number"]))
    );
    // SMTP carries lines ended by CRLF.
    assert_eq!(
        mail.body_text().replace("\r\n", "\n").trim_end(),
        "Hello Bob,\nwe are on it. Grüße!"
    );
}

#[tokio::test]
async fn temporary_refusals_are_retried_then_reported_and_the_worker_sends_on_its_own() {
    let sink = SmtpSink::start().await;
    let app = app_with_worker().await;
    enable_email(&app, sink.port()).await;
    // 451 every time: retried up to max_attempts (2), then Rejected with the reason.
    let entry = create(&app, outgoing("tempfail@example.com")).await;
    let done = settled(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "451");
    assert_eq!(done["attempts"], 2);
    assert_eq!(statuses(&done), ["pending", "sending", "sending", "failed"]);
    // The worker sends a good one without being asked.
    let entry = create(&app, outgoing("carol@example.com")).await;
    let done = settled(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails[0].rcpt_tos, ["carol@example.com"]);
}

#[tokio::test]
async fn an_unreachable_server_leaves_the_entry_unsent_with_the_reason() {
    let app = app_without_worker().await;
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    enable_email(&app, port).await;
    let entry = create(&app, outgoing("bob@example.com")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["status"], "unsent");
    assert_eq!(done["error_code"], "SMTP-CONNECT");
    assert!(
        done["error_description"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{done}"
    );
}

#[tokio::test]
async fn smtp_credentials_are_used_and_a_wrong_password_is_reported() {
    let sink = SmtpSink::start_with_auth("desk", "s3cret").await;
    let app = app_without_worker().await;
    let settings = |password: &str| {
        json!({ "enabled": true, "host": "127.0.0.1", "port": sink.port(),
        "tls": "none", "username": "desk", "password": password,
        "default_sender": "desk@acme.example", "max_attempts": 1 })
    };
    let view = expect(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(settings("wrong")),
        200,
    )
    .await;
    assert_eq!(view["password_set"], true);
    assert!(
        view.get("password").is_none(),
        "the password is never shown"
    );
    let entry = create(&app, outgoing("bob@example.com")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "535");
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(settings("s3cret")),
        200,
    )
    .await;
    let entry = create(&app, outgoing("bob@example.com")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}
