//! Inbound email as mail relays deliver it (`POST /api/v1/email/inbound`: raw MIME,
//! Postmark's JSON, Mailgun's form and multipart), email connectors
//! (`/api/v1/connectors/email`), the email and its attachments on the stored message,
//! the attachment download, and routing by the connector's group or its routing
//! application.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, plugin_bytes, spawn_app};

use super::assert_error;
use super::connectors::group;
use super::inbound::{interaction_of, keyword_settings, routed, token};

const SUPPORT: &str = "support@shop.example";

async fn email_connector(app: &TestApp, body: Value) -> Value {
    let response = app
        .admin(Method::POST, "/api/v1/connectors/email")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A direct email connector for SUPPORT and help@, to group `support`, with a
/// subject rule.
async fn support_connector(app: &TestApp) -> (Value, i64) {
    let support = group(app, "support").await;
    let connector = email_connector(
        app,
        json!({ "name": "support mail", "addresses": ["Support@Shop.example", "help@shop.example"],
                "routing_type": "direct_acd_group", "acd_group": support,
                "incoming_subject": "[Mail] {subject}" }),
    )
    .await;
    (connector, support)
}

async fn post(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/email/inbound"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got.as_u16(), status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A raw email with a text part and a PDF attachment of `pdf` bytes.
fn mime_with_pdf(message_id: &str, pdf: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: \"Ann Smith\" <Ann@Example.com>\r\n\
         To: support@shop.example\r\n\
         Cc: boss@example.com\r\n\
         Subject: =?UTF-8?Q?Rechnung_f=C3=BCr_Bestellung_42?=\r\n\
         Message-ID: <{message_id}>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=ISO-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Die Rechnung f=FCr Bestellung 42 fehlt.\r\n\
         --b1\r\n\
         Content-Type: application/pdf; name=\"rechnung.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"rechnung.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}\r\n\
         --b1--\r\n",
        lines.join("\r\n")
    )
}

#[tokio::test]
async fn email_connectors_are_created_changed_and_kept_apart_from_sms_connectors() {
    let app = spawn_app().await;
    let (connector, support) = support_connector(&app).await;
    assert_eq!(
        connector["addresses"],
        json!(["support@shop.example", "help@shop.example"])
    );
    assert_eq!(connector["token"].as_str().unwrap().len(), 64);
    assert_eq!(connector["require_token"], true);
    let id = connector["id"].as_i64().unwrap();

    // Listed by the email resource, not by the SMS one, and the reverse.
    let list = json_of(
        app.admin(Method::GET, "/api/v1/connectors/email")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let sms = json_of(
        app.admin(Method::GET, "/api/v1/connectors/sms")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(sms, json!([]));
    let response = app
        .admin(Method::GET, &format!("/api/v1/connectors/sms/{id}"))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
    let response = app
        .admin(Method::DELETE, &format!("/api/v1/connectors/sms/{id}"))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;

    // An address belongs to one connector.
    let response = app
        .admin(Method::POST, "/api/v1/connectors/email")
        .json(
            &json!({ "name": "other", "addresses": ["HELP@shop.example"],
                       "routing_type": "direct_acd_group", "acd_group": support }),
        )
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "conflict").await;
    // A bad address names its field.
    let response = app
        .admin(Method::POST, "/api/v1/connectors/email")
        .json(&json!({ "name": "other", "addresses": ["not an address"],
                       "routing_type": "direct_acd_group", "acd_group": support }))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.contains("not an address"), "{message}");

    // PATCH changes the addresses; the old one is free again.
    let patched = json_of(
        app.admin(Method::PATCH, &format!("/api/v1/connectors/email/{id}"))
            .json(&json!({ "addresses": ["support@shop.example"], "generate_new_token": true }))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(patched["addresses"], json!(["support@shop.example"]));
    assert_ne!(patched["token"], connector["token"]);
    email_connector(
        &app,
        json!({ "name": "help", "addresses": ["help@shop.example"],
                "routing_type": "direct_acd_group", "acd_group": support }),
    )
    .await;

    let response = app
        .admin(Method::DELETE, &format!("/api/v1/connectors/email/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn raw_mime_becomes_an_interaction_with_its_email_and_attachment_once() {
    let app = spawn_app().await;
    let (connector, support) = support_connector(&app).await;
    let token = token(&connector);
    let pdf = b"%PDF-1.4\nnot really a pdf\n".to_vec();
    let raw = mime_with_pdf("order-42@example.com", &pdf);

    let accepted = json_of(
        post(&app, Some(&token), "message/rfc822", raw.clone()).await,
        202,
    )
    .await;
    assert_eq!(accepted["duplicate"], false);
    assert_eq!(accepted["message_id"], "order-42@example.com");
    assert_eq!(accepted["generated_message_id"], false);
    let id = accepted["id"].as_i64().unwrap();

    let message = routed(&app, id).await;
    assert_eq!(message["state"], "routed", "{message}");
    assert_eq!(message["channel"], "email");
    assert_eq!(message["from"], "ann@example.com");
    assert_eq!(message["to"], SUPPORT);
    assert_eq!(
        message["text"].as_str().unwrap().trim(),
        "Die Rechnung für Bestellung 42 fehlt."
    );
    let email = &message["email"];
    assert_eq!(email["subject"], "Rechnung für Bestellung 42");
    assert_eq!(email["from_name"], "Ann Smith");
    assert_eq!(email["cc"][0]["address"], "boss@example.com");
    assert_eq!(email["dialect"], "mime");
    let attachment = &email["attachments"][0];
    assert_eq!(attachment["name"], "rechnung.pdf");
    assert_eq!(attachment["mimetype"], "application/pdf");
    assert_eq!(attachment["size"], pdf.len());

    // The interaction's subject follows the connector's rule.
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group"], support);
    assert_eq!(interaction["subject"], "[Mail] Rechnung für Bestellung 42");

    // The attachment's bytes, for an admin only.
    let path = format!("/api/v1/attachments/{}", attachment["id"]);
    let response = app.admin(Method::GET, &path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("rechnung.pdf")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let response = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // The relay retries: same message, nothing new.
    let retry = json_of(
        post(&app, Some(&token), "message/rfc822", raw.clone()).await,
        200,
    )
    .await;
    assert_eq!(
        (retry["id"].as_i64(), &retry["duplicate"]),
        (Some(id), &json!(true))
    );

    // No token, a wrong one, or an address no connector has: 401, nothing stored.
    assert_error(
        post(&app, None, "message/rfc822", raw.clone()).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        post(
            &app,
            Some("0".repeat(64).as_str()),
            "message/rfc822",
            raw.clone(),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    let elsewhere = raw
        .replace("To: support@shop.example", "To: nobody@elsewhere.example")
        .replace("order-42@", "order-43@");
    assert_error(
        post(&app, Some(&token), "message/rfc822", elsewhere).await,
        401,
        "unauthorized",
    )
    .await;
    let messages = json_of(
        app.admin(Method::GET, "/api/v1/messages")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn postmark_and_mailgun_posts_are_received_and_bad_posts_refused() {
    let app = spawn_app().await;
    let (connector, _) = support_connector(&app).await;
    let token = token(&connector);

    // Postmark: the mail's own Message-ID, the envelope recipient, a base64 attachment.
    let postmark = json!({
        "From": "bob@example.com", "FromFull": { "Email": "Bob@Example.com", "Name": "Bob" },
        "To": "\"Help\" <help@shop.example>", "ToFull": [{ "Email": "help@shop.example", "Name": "Help" }],
        "OriginalRecipient": "help@shop.example",
        "Subject": "Broken parcel", "MessageID": "2d5f-postmark-id",
        "TextBody": "The parcel arrived broken.", "HtmlBody": "<p>The parcel arrived broken.</p>",
        "Headers": [{ "Name": "Message-ID", "Value": "<pm-1@example.com>" }],
        "Attachments": [{ "Name": "photo.jpg", "Content": "/9j/4AAQ", "ContentType": "image/jpeg",
                          "ContentLength": 6 }],
    });
    let accepted = json_of(
        post(&app, Some(&token), "application/json", postmark.to_string()).await,
        202,
    )
    .await;
    assert_eq!(accepted["message_id"], "pm-1@example.com");
    let message = routed(&app, accepted["id"].as_i64().unwrap()).await;
    assert_eq!(
        message["to"], SUPPORT,
        "one email per connector, whichever address"
    );
    assert_eq!(message["email"]["dialect"], "postmark");
    assert_eq!(message["email"]["attachments"][0]["size"], 6);

    // Mailgun's form, token in the query, without a Message-ID: one is made, the same
    // for the retry.
    let form = [
        ("sender", "carol@example.com"),
        ("from", "Carol <carol@example.com>"),
        ("recipient", "support@shop.example"),
        ("subject", "Question"),
        ("body-plain", "When do you open?"),
    ];
    let url = app.url(&format!("/api/v1/email/inbound?token={token}"));
    let first: Value = json_of(app.client.post(&url).form(&form).send().await.unwrap(), 202).await;
    assert_eq!(first["generated_message_id"], true);
    let again: Value = json_of(app.client.post(&url).form(&form).send().await.unwrap(), 200).await;
    assert_eq!(again["id"], first["id"]);

    // Mailgun's multipart, with a file.
    let boundary = "XyZ";
    let mut body = String::new();
    for (name, value) in [
        ("from", "dave@example.com"),
        ("recipient", "support@shop.example"),
        ("subject", "Invoice attached"),
        ("body-plain", "See attached"),
        ("Message-Id", "<mg-1@example.com>"),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment-1\"; \
         filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nhello notes\r\n--{boundary}--\r\n"
    ));
    let accepted = json_of(
        post(
            &app,
            Some(&token),
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await,
        202,
    )
    .await;
    let message = routed(&app, accepted["id"].as_i64().unwrap()).await;
    assert_eq!(message["email"]["message_id"], "mg-1@example.com");
    assert_eq!(message["email"]["attachments"][0]["name"], "notes.txt");
    assert_eq!(message["email"]["attachments"][0]["size"], 11);

    // Bad posts: each a clear answer, nothing stored.
    let before = json_of(
        app.admin(Method::GET, "/api/v1/messages")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .len();
    let message = assert_error(
        post(&app, Some(&token), "message/rfc822", "no headers at all").await,
        400,
        "malformed_email",
    )
    .await;
    assert!(
        message.contains("RFC 5322") || message.contains("From"),
        "{message}"
    );
    let message = assert_error(
        post(
            &app,
            Some(&token),
            "message/rfc822",
            "To: support@shop.example\r\n\r\nx",
        )
        .await,
        400,
        "malformed_email",
    )
    .await;
    assert!(message.contains("From"), "{message}");
    assert_error(
        post(&app, Some(&token), "application/json", "{\"From\": ").await,
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        post(&app, Some(&token), "text/plain", "hello").await,
        415,
        "unsupported_media_type",
    )
    .await;
    let bad_attachment = json!({ "From": "e@example.com", "To": SUPPORT,
        "Attachments": [{ "Name": "x", "Content": "***" }] });
    let message = assert_error(
        post(
            &app,
            Some(&token),
            "application/json",
            bad_attachment.to_string(),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    assert!(message.contains("base64"), "{message}");
    let after = json_of(
        app.admin(Method::GET, "/api/v1/messages")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_20_mb_attachment_is_stored_whole_and_a_larger_post_is_refused() {
    let app = spawn_app().await;
    let (connector, _) = support_connector(&app).await;
    let token = token(&connector);
    let pdf: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let accepted = json_of(
        post(
            &app,
            Some(&token),
            "message/rfc822",
            mime_with_pdf("big@example.com", &pdf),
        )
        .await,
        202,
    )
    .await;
    let message = routed(&app, accepted["id"].as_i64().unwrap()).await;
    let attachment = &message["email"]["attachments"][0];
    assert_eq!(attachment["size"], 20_000_000);
    let bytes = app
        .admin(
            Method::GET,
            &format!("/api/v1/attachments/{}", attachment["id"]),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        bytes.as_ref() == pdf.as_slice(),
        "the attachment came back changed"
    );

    let huge = vec![b'a'; 33 << 20];
    assert_error(
        post(&app, Some(&token), "message/rfc822", huge).await,
        413,
        "body_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_routing_application_routes_email_by_its_text_and_sees_its_subject() {
    let app = spawn_app().await;
    for name in ["billing", "support", "general"] {
        group(&app, name).await;
    }
    let connector = email_connector(
        &app,
        json!({ "name": "routed mail", "addresses": [SUPPORT], "require_token": false,
                "routing_type": "routing_application", "plugin_settings": keyword_settings() }),
    )
    .await;
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
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());

    let mail = |id: &str, subject: &str, text: &str| {
        format!(
            "From: ann@example.com\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\n{text}\r\n"
        )
    };
    let billing = json_of(
        post(
            &app,
            None,
            "message/rfc822",
            mail("k1@x", "Money", "About my invoice"),
        )
        .await,
        202,
    )
    .await;
    let message = routed(&app, billing["id"].as_i64().unwrap()).await;
    assert_eq!(
        message["routing"]["routing_type"], "routing_application",
        "{message}"
    );
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group_name"], "billing", "{interaction}");
    assert_eq!(interaction["subject"], "Billing");

    // No keyword (and another sender, as the router keeps a contact's last group):
    // the default group, with the email's own subject.
    let other = json_of(
        post(
            &app,
            None,
            "message/rfc822",
            mail("k2@x", "Opening hours", "When?").replace("ann@", "bob@"),
        )
        .await,
        202,
    )
    .await;
    let message = routed(&app, other["id"].as_i64().unwrap()).await;
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group_name"], "general", "{interaction}");
    assert_eq!(interaction["subject"], "Opening hours");
}
