//! The JSON SMS gateway plugin through the real runtime: the HTTP request it builds for
//! an outgoing SMS, the entries and settings it refuses, and its verdict on gateway
//! answers, all checked against the host's own contract checks.

use switchyard::channel::Channel;
use switchyard::queue::{
    Communication, Direction, HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError,
    QueueEntry, SendResult,
};
use switchyard::runtime::{HostEnv, Limits, Settings, World};
use switchyard_tests::load;

const SETTINGS: &str = r#"{
  "url": "https://sms.example/v1/messages",
  "auth_token": "s3cret",
  "headers": {"X-Tenant": "acme", "Accept": "application/json"}
}"#;

fn sms(number: u64, recipient: &str, body: &str) -> QueueEntry {
    QueueEntry {
        number,
        external_system: Some("sms-gateway".into()),
        communication: Communication {
            media: Channel::Sms,
            direction: Direction::Outgoing,
            sender: "+32470999999".into(),
            recipient: recipient.into(),
            subject: None,
            body: body.into(),
        },
        attributes: vec![],
    }
}

fn env(settings: &str) -> HostEnv {
    HostEnv::new(Settings::parse(settings).expect("test settings are a JSON object"))
}

/// What the plugin's `build-request` returned, after the host checked it.
fn build(settings: &str, entry: &QueueEntry) -> Result<HttpRequestSpec, ProcessError> {
    load("json-gateway", World::Gateway)
        .build_request(&env(settings), &Limits::default(), entry)
        .expect("the gateway answers within the contract")
        .value
}

/// The code and description of a refused entry.
fn refusal(settings: &str, entry: &QueueEntry) -> (String, String) {
    match build(settings, entry) {
        Err(ProcessError { code, description }) => (code, description),
        Ok(request) => panic!("expected a refusal, got {request:?}"),
    }
}

/// What the plugin's `parse-response` made of `status` and `body`.
fn verdict(status: u16, body: &str) -> SendResult {
    let response = HttpResponseData {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    };
    load("json-gateway", World::Gateway)
        .parse_response(
            &env(SETTINGS),
            &Limits::default(),
            &sms(1, "+32470123456", "hi"),
            &response,
        )
        .expect("the gateway answers within the contract")
        .value
}

fn error(code: &str, description: &str) -> ProcessError {
    ProcessError {
        code: code.into(),
        description: description.into(),
    }
}

#[test]
fn an_outgoing_sms_becomes_a_json_post_with_an_idempotency_key_and_a_bearer_token() {
    let request = build(SETTINGS, &sms(1042, "+32470123456", "Your code is 1234"))
        .expect("an outgoing SMS is sent");
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.url, "https://sms.example/v1/messages");
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "switchyard-1042"),
            ("Authorization", "Bearer s3cret"),
            // Extra headers follow the plugin's own, in name order.
            ("Accept", "application/json"),
            ("X-Tenant", "acme"),
        ]
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("the body is JSON");
    assert_eq!(
        body,
        serde_json::json!({
            "from": "+32470999999",
            "to": "+32470123456",
            "text": "Your code is 1234",
            "reference": "1042",
        })
    );
}

#[test]
fn a_retried_entry_carries_the_same_idempotency_key_and_another_entry_does_not() {
    let key = |entry: &QueueEntry| {
        build(SETTINGS, entry)
            .unwrap()
            .headers
            .into_iter()
            .find(|(name, _)| name == "Idempotency-Key")
            .map(|(_, value)| value)
    };
    let entry = sms(77, "+32470123456", "hello");
    assert_eq!(key(&entry), Some("switchyard-77".into()));
    // Not just the key: the whole request is the same on every attempt.
    assert_eq!(build(SETTINGS, &entry), build(SETTINGS, &entry));
    assert_eq!(
        key(&sms(78, "+32470123456", "hello")),
        Some("switchyard-78".into())
    );
}

#[test]
fn sender_override_replaces_the_sender_and_without_a_token_no_authorization_is_sent() {
    let settings = r#"{"url":"http://gw.internal:8080/send","sender_override":"ACME"}"#;
    let request = build(settings, &sms(5, "+4915112345678", "hi")).unwrap();
    assert_eq!(request.url, "http://gw.internal:8080/send");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["from"], "ACME");
    assert!(
        request
            .headers
            .iter()
            .all(|(name, _)| name != "Authorization"),
        "{:?}",
        request.headers
    );
}

#[test]
fn an_incoming_entry_is_refused_with_gw_direction() {
    let mut entry = sms(1, "+32470123456", "hi");
    entry.communication.direction = Direction::Incoming;
    assert_eq!(
        refusal(SETTINGS, &entry),
        (
            "GW-DIRECTION".into(),
            "the JSON gateway sends outgoing entries only, not incoming ones".into()
        )
    );
}

#[test]
fn an_email_entry_is_refused_with_gw_media() {
    let mut entry = sms(1, "ann@example.com", "hi");
    entry.communication.media = Channel::Email;
    assert_eq!(
        refusal(SETTINGS, &entry),
        (
            "GW-MEDIA".into(),
            "the JSON gateway sends SMS only, not email entries".into()
        )
    );
}

#[test]
fn a_recipient_that_is_not_e164_is_refused_with_gw_number() {
    for recipient in ["0470 12 34 56", "32470123456", "+3247", "+32-470-123456"] {
        let (code, description) = refusal(SETTINGS, &sms(1, recipient, "hi"));
        assert_eq!(code, "GW-NUMBER", "{recipient}");
        assert!(description.contains(recipient), "{description}");
    }
}

#[test]
fn settings_without_a_url_are_refused_with_gw_config() {
    assert_eq!(
        refusal("{}", &sms(1, "+32470123456", "hi")),
        (
            "GW-CONFIG".into(),
            "invalid settings: url is missing".into()
        )
    );
    let (code, description) = refusal(
        r#"{"url":"https://sms.example","auth_token":"t","token":"typo"}"#,
        &sms(1, "+32470123456", "hi"),
    );
    assert_eq!(code, "GW-CONFIG");
    assert!(
        description.contains("unknown setting token"),
        "{description}"
    );
}

#[test]
fn a_header_setting_the_host_would_refuse_is_a_config_error_not_a_broken_plugin() {
    let settings = r#"{"url":"https://sms.example","headers":{"X-Evil":"a\r\nHost: elsewhere"}}"#;
    let (code, description) = refusal(settings, &sms(1, "+32470123456", "hi"));
    assert_eq!(code, "GW-CONFIG");
    assert_eq!(
        description,
        "invalid settings: headers: the value of X-Evil contains a line break"
    );
}

#[test]
fn a_200_with_an_id_is_sent_under_that_id() {
    assert_eq!(
        verdict(200, r#"{"id":"msg-8812","status":"queued"}"#),
        SendResult::Sent(Some("msg-8812".into()))
    );
    assert_eq!(
        verdict(200, r#"{"message_id":"m-9"}"#),
        SendResult::Sent(Some("m-9".into()))
    );
}

#[test]
fn a_202_without_a_body_is_sent_without_an_id() {
    assert_eq!(verdict(202, ""), SendResult::Sent(None));
}

#[test]
fn a_429_is_retried_with_the_gateways_error_text() {
    assert_eq!(
        verdict(429, r#"{"error":"rate limit exceeded"}"#),
        SendResult::Retry(error("HTTP-429", "rate limit exceeded"))
    );
}

#[test]
fn a_503_is_retried_quoting_the_start_of_a_body_that_is_not_json() {
    let page = format!(
        "<html><body>Service Unavailable{}</body></html>",
        " .".repeat(300)
    );
    match verdict(503, &page) {
        SendResult::Retry(ProcessError { code, description }) => {
            assert_eq!(code, "HTTP-503");
            assert!(
                description.starts_with("<html><body>Service Unavailable"),
                "{description}"
            );
            assert_eq!(
                description.chars().count(),
                201,
                "200 characters and the cut mark"
            );
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[test]
fn a_400_with_a_json_error_fails_for_good() {
    assert_eq!(
        verdict(400, r#"{"error":"invalid destination number"}"#),
        SendResult::Failed(error("HTTP-400", "invalid destination number"))
    );
}

#[test]
fn a_2xx_whose_body_says_status_failed_fails_with_the_gateways_code() {
    assert_eq!(
        verdict(
            200,
            r#"{"status":"failed","code":"E-21","error":"subscriber unknown"}"#
        ),
        SendResult::Failed(error("E-21", "subscriber unknown"))
    );
    assert_eq!(
        verdict(202, r#"{"status":"failed","error":"blocked"}"#),
        SendResult::Failed(error("GW-REJECTED", "blocked"))
    );
}

#[test]
fn oversized_gateway_answers_are_cut_to_what_the_host_accepts() {
    // Without the plugin's limits the host would refuse these results as a broken
    // contract (description over 4096 bytes, id over 1024 bytes, code over 64).
    match verdict(502, &format!(r#"{{"error":"{}"}}"#, "é".repeat(5_000))) {
        SendResult::Retry(ProcessError { code, description }) => {
            assert_eq!(code, "HTTP-502");
            assert!(description.len() <= 4_096, "{} bytes", description.len());
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    assert_eq!(
        verdict(200, &format!(r#"{{"id":"{}"}}"#, "x".repeat(2_000))),
        SendResult::Sent(None)
    );
    match verdict(
        200,
        &format!(r#"{{"status":"failed","code":"{}"}}"#, "C".repeat(100)),
    ) {
        SendResult::Failed(ProcessError { code, .. }) => assert_eq!(code, "C".repeat(64)),
        other => panic!("expected a failure, got {other:?}"),
    }
}
