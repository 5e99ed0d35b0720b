//! Email interactions for agents (seed 003's e-mail channel): an inbound email offered
//! over CometD to an agent's real client (aiocometd) with its subject, accepted with
//! the whole `email_object` (addresses, text, HTML, attachments), answered with
//! ReplyAll, an attachment linked, and sent through the queue to a real SMTP server,
//! threaded onto the customer's mail.

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::cometd::{ClientKind, CometdClient};
use switchyard_tests::smtp::SmtpSink;
use switchyard_tests::spawn_app;

use super::cometd::{accept, subscribed_client};
use super::connectors::group;
use super::queue::enable_email;

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(30);

async fn notified(client: &mut CometdClient, state: &str) -> Value {
    client
        .wait_for(&format!("a {state} notification"), WAIT, |line| {
            line["event"] == "message" && line["data"]["state"] == state
        })
        .await["data"]
        .clone()
}

#[tokio::test]
async fn an_email_is_offered_accepted_answered_with_its_attachment_and_threaded() {
    let sink = SmtpSink::start().await;
    let app = spawn_app().await;
    enable_email(&app, sink.port()).await;
    let support = group(&app, "support").await;
    let connector = app
        .admin(Method::POST, "/api/v1/connectors/email")
        .json(&json!({ "name": "desk", "addresses": ["desk@shop.example"],
                       "require_token": false, "routing_type": "direct_acd_group",
                       "acd_group": support }))
        .send()
        .await
        .unwrap();
    assert_eq!(connector.status(), 201);

    let created = app
        .admin(Method::POST, "/api/v1/agents")
        .json(
            &json!({ "login": "ann", "name": "Ann", "password": PASSWORD,
                       "groups": [support], "capacity": { "sms": 0, "email": 2 } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let session: Value = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": "ann", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let mut client = subscribed_client(&app, ClientKind::Python, &token).await;
    let ready = app
        .client
        .put(app.url("/api/v1/me/channels/email"))
        .bearer_auth(&token)
        .json(&json!({ "state": "ready" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let pdf = b"%PDF-1.4 order 42".to_vec();
    let raw = format!(
        "From: Bob <bob@example.com>\r\nTo: desk@shop.example\r\nCc: carol@example.com\r\n\
         Subject: Invoice 42\r\nMessage-ID: <inv-42@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=m\r\n\r\n\
         --m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
         --a\r\nContent-Type: text/plain\r\n\r\nThe invoice is wrong.\r\n\
         --a\r\nContent-Type: text/html\r\n\r\n<p>The invoice is <b>wrong</b>.</p>\r\n--a--\r\n\
         --m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=inv.pdf\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--m--\r\n",
        base64::engine::general_purpose::STANDARD.encode(&pdf)
    );
    let posted = app
        .client
        .post(app.url("/api/v1/email/inbound"))
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);

    // Invited: the subject and the id, Accept or Reject.
    let invited = notified(&mut client, "Invited").await;
    assert_eq!(invited["channel"], "email");
    assert_eq!(invited["interactionType"], "Email");
    assert_eq!(invited["interactionSubType"], "InboundNew");
    assert_eq!(invited["email_object"]["subject"], "Invoice 42");
    assert_eq!(invited["capabilities"], json!(["Accept", "Reject"]));
    let id = invited["id"].as_str().unwrap().to_owned();

    // Accepted: the whole email.
    accept(&app, &token, &id).await;
    let accepted = notified(&mut client, "Accepted").await;
    let email = &accepted["email_object"];
    assert_eq!(email["FromAddress"], "bob@example.com");
    assert_eq!(email["ToAddress"], "desk@shop.example");
    assert_eq!(email["CCAddresses"], "carol@example.com");
    assert_eq!(email["Subject"], "Invoice 42");
    assert_eq!(
        email["Text"].as_str().unwrap().trim(),
        "The invoice is wrong."
    );
    assert!(
        email["StructuredText"]
            .as_str()
            .unwrap()
            .contains("<b>wrong</b>")
    );
    assert_eq!(email["StructuredTextMimeType"], "text/html");
    let attachment = &email["attachments"][0];
    assert_eq!(attachment["name"], "inv.pdf");
    assert_eq!(attachment["mimetype"], "application/pdf");
    assert_eq!(attachment["size"], pdf.len());
    // The agent holding it downloads the attachment; an id not of this email is 404.
    let download = |attachment: String| {
        app.client
            .get(app.url(&format!(
                "/api/v1/me/interactions/{id}/attachments/{attachment}"
            )))
            .bearer_auth(&token)
            .send()
    };
    let got = download(attachment["id"].to_string()).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());
    assert_eq!(download("999999".into()).await.unwrap().status(), 404);
    for capability in ["Reply", "ReplyAll", "Transfer", "StopProcessing"] {
        assert!(
            accepted["capabilities"]
                .as_array()
                .unwrap()
                .contains(&json!(capability)),
            "{accepted}"
        );
    }

    let operate = |body: Value| {
        app.client
            .post(app.url(&format!("/api/v1/me/interactions/{id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // ReplyAll: to the sender and the copied address, Re: subject.
    let response = operate(json!({ "operationName": "ReplyAll" }))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let created = notified(&mut client, "ReplyCreated").await;
    assert_eq!(created["interactionSubType"], "OutboundReply");
    assert_eq!(
        created["email_object"]["ToAddress"],
        "bob@example.com, carol@example.com"
    );
    assert_eq!(created["email_object"]["Subject"], "Re: Invoice 42");
    assert!(
        created["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("LinkAttachment"))
    );

    // LinkAttachment: the email's own attachment, by id; a stranger's id is refused.
    let response = operate(json!({ "operationName": "LinkAttachment", "attachmentId": "999999" }))
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let attachment_id = attachment["id"].to_string();
    let response =
        operate(json!({ "operationName": "LinkAttachment", "attachmentId": attachment_id }))
            .await
            .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let response =
        operate(json!({ "operationName": "Send", "text": "Corrected invoice attached." }))
            .await
            .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // The queue sends it: from the connector's address, threaded, with the PDF.
    let mails = sink.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "desk@shop.example");
    assert_eq!(mail.rcpt_tos, ["bob@example.com"]);
    assert_eq!(
        mail.header("In-Reply-To").as_deref(),
        Some("inv-42@example.com")
    );
    assert_eq!(mail.header("Subject").as_deref(), Some("Re: Invoice 42"));
    assert!(
        mail.body_text().contains("Corrected invoice attached."),
        "{mail:?}"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.data.as_bytes())
        .unwrap();
    let sent = parsed
        .attachments()
        .next()
        .expect("the PDF went with the reply");
    assert_eq!(sent.contents(), pdf.as_slice());

    // Seed 004: the agent's answer put the conversation In progress, logged as theirs.
    let conversations: Value = app
        .admin(Method::GET, "/api/v1/conversations?channel=email")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = &conversations["items"][0];
    assert_eq!(conversation["status"], "in_progress");
    let detail: Value = app
        .admin(
            Method::GET,
            &format!("/api/v1/conversations/{}", conversation["id"]),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = detail["activity"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("agent_reply"), Some("agent ann"))
    );
    client.kill().await;
}
