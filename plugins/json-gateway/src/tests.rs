//! Whole-plugin tests against a fake host: the request built for an entry, each
//! refusal code, and the verdict on each kind of gateway answer (see README.md).

use serde_json::{Value, json};
use switchyard_guest::{Channel, Communication, Direction, HttpMethod, HttpResponse};

use super::*;

const SETTINGS: &str = r#"{
  "url": "https://sms.example/v1/messages",
  "auth_token": "s3cret",
  "headers": {"X-Tenant": "acme", "Accept": "application/json"}
}"#;

/// The host as far as this plugin sees it: settings only.
struct FakeHost {
    settings: String,
}

impl Platform for FakeHost {
    fn settings(&self) -> String {
        self.settings.clone()
    }
}

fn host(settings: &str) -> FakeHost {
    FakeHost {
        settings: settings.into(),
    }
}

fn sms(number: u64, recipient: &str, body: &str) -> QueueEntry {
    QueueEntry {
        number,
        external_system: None,
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

fn build(entry: &QueueEntry, settings: &str) -> Result<HttpRequest, ProcessError> {
    request::build(entry, &host(settings))
}

fn refusal(result: Result<HttpRequest, ProcessError>, code: &str) -> String {
    match result {
        Err(error) if error.code == code => error.description,
        other => panic!("expected a {code} refusal, got {other:?}"),
    }
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).expect("the body is JSON")
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn answer(status: u16, body: &str) -> SendResult {
    response::parse(&HttpResponse {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    })
}

#[test]
fn an_outgoing_sms_becomes_a_json_post_with_idempotency_key_and_bearer_token() {
    let request = build(&sms(1042, "+32470123456", "Your code is 1234"), SETTINGS).unwrap();
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.url, "https://sms.example/v1/messages");
    assert_eq!(
        request.headers,
        pairs(&[
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "switchyard-1042"),
            ("Authorization", "Bearer s3cret"),
            ("Accept", "application/json"),
            ("X-Tenant", "acme"),
        ])
    );
    assert_eq!(
        body_json(&request),
        json!({"from": "+32470999999", "to": "+32470123456", "text": "Your code is 1234", "reference": "1042"})
    );
    // The exact bytes README.md shows: compact, keys in name order.
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        r#"{"from":"+32470999999","reference":"1042","text":"Your code is 1234","to":"+32470123456"}"#
    );
}

#[test]
fn the_same_entry_always_gets_the_same_request() {
    let entry = sms(7, "+32470123456", "hello");
    assert_eq!(build(&entry, SETTINGS), build(&entry, SETTINGS));
}

#[test]
fn sender_override_replaces_the_entry_sender_and_no_token_means_no_authorization() {
    let settings = r#"{"url":"http://gw.local/send","sender_override":"ACME"}"#;
    let request = build(&sms(3, "+4915112345678", "hi"), settings).unwrap();
    assert_eq!(body_json(&request)["from"], "ACME");
    assert_eq!(
        request.headers,
        pairs(&[
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "switchyard-3"),
        ])
    );
}

#[test]
fn text_with_quotes_and_unicode_is_escaped_as_json() {
    let text = "Say \"hi\" \\ to Zoë 👋\nbye";
    let request = build(&sms(1, "+32470123456", text), SETTINGS).unwrap();
    assert_eq!(body_json(&request)["text"], text);
}

#[test]
fn only_outgoing_sms_entries_are_sent() {
    let mut email = sms(1, "+32470123456", "hi");
    email.communication.media = Channel::Email;
    assert_eq!(
        refusal(build(&email, SETTINGS), "GW-MEDIA"),
        "the JSON gateway sends SMS only, not email entries"
    );
    let mut device = sms(1, "+32470123456", "hi");
    device.communication.media = Channel::Device;
    refusal(build(&device, SETTINGS), "GW-MEDIA");

    let mut incoming = sms(1, "+32470123456", "hi");
    incoming.communication.direction = Direction::Incoming;
    assert_eq!(
        refusal(build(&incoming, SETTINGS), "GW-DIRECTION"),
        "the JSON gateway sends outgoing entries only, not incoming ones"
    );
}

#[test]
fn a_recipient_that_is_not_e164_is_refused() {
    assert_eq!(
        refusal(build(&sms(1, "0470 12 34 56", "hi"), SETTINGS), "GW-NUMBER"),
        r#"recipient "0470 12 34 56" is not an E.164 number (+ and 8 to 15 digits, no spaces)"#
    );
    refusal(build(&sms(1, "+3247", "hi"), SETTINGS), "GW-NUMBER");
    // A hostile recipient cannot blow up the description past the host's limit.
    let long = format!("+{}", "9".repeat(10_000));
    assert!(refusal(build(&sms(1, &long, "hi"), SETTINGS), "GW-NUMBER").len() < 200);
}

#[test]
fn the_entrys_own_faults_are_reported_even_when_the_settings_are_broken() {
    let mut email = sms(1, "+32470123456", "hi");
    email.communication.media = Channel::Email;
    refusal(build(&email, "{}"), "GW-MEDIA");
    refusal(build(&sms(1, "12345", "hi"), "{}"), "GW-NUMBER");
}

#[test]
fn missing_or_invalid_settings_are_a_config_error() {
    let entry = sms(1, "+32470123456", "hi");
    assert_eq!(
        refusal(build(&entry, "{}"), "GW-CONFIG"),
        "invalid settings: url is missing"
    );
    assert_eq!(
        refusal(build(&entry, r#"{"url":"sms.example"}"#), "GW-CONFIG"),
        r#"invalid settings: url "sms.example" is not an http:// or https:// URL"#
    );
    // Settings that would make the host refuse the request are caught first.
    let huge_name = format!(
        r#"{{"url":"https://a.example","headers":{{"{} x":"1"}}}}"#,
        "X".repeat(5_000)
    );
    let description = refusal(build(&entry, &huge_name), "GW-CONFIG");
    assert!(description.starts_with("invalid settings: headers: "));
    assert!(description.chars().count() <= MAX_DESCRIPTION_CHARS + 1);
}

#[test]
fn a_2xx_is_sent_with_the_id_or_message_id_when_there_is_one() {
    assert_eq!(answer(200, r#"{"id":"msg-1"}"#), SendResult::sent("msg-1"));
    assert_eq!(
        answer(201, r#"{"message_id":"m-2","status":"queued"}"#),
        SendResult::sent("m-2")
    );
    assert_eq!(
        answer(200, r#"{"id":"a","message_id":"b"}"#),
        SendResult::sent("a")
    );
    assert_eq!(answer(200, r#"{"id":12345}"#), SendResult::sent("12345"));
    assert_eq!(answer(202, ""), SendResult::Sent(None));
    assert_eq!(answer(200, "OK"), SendResult::Sent(None));
    assert_eq!(answer(200, r#"{"id":""}"#), SendResult::Sent(None));
    assert_eq!(answer(200, r#"["msg-1"]"#), SendResult::Sent(None));
    // Longer than the host accepts: the message was still sent, under no usable id.
    let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(2_000));
    assert_eq!(answer(200, &long), SendResult::Sent(None));
}

#[test]
fn a_2xx_saying_status_failed_is_a_failure_with_the_gateways_code() {
    assert_eq!(
        answer(
            200,
            r#"{"status":"failed","code":"E21","error":"unknown subscriber"}"#
        ),
        SendResult::failed("E21", "unknown subscriber")
    );
    assert_eq!(
        answer(
            200,
            r#"{"status":"FAILED","code":30003,"message":"unreachable"}"#
        ),
        SendResult::failed("30003", "unreachable")
    );
    assert_eq!(
        answer(202, r#"{"status":"failed"}"#),
        SendResult::failed("GW-REJECTED", "the gateway answered with status failed")
    );
    // A code the host would refuse is made to fit: one line, at most 64 bytes.
    match answer(
        200,
        &format!(r#"{{"status":"failed","code":"A\nB{}"}}"#, "é".repeat(40)),
    ) {
        SendResult::Failed(error) => {
            assert!(error.code.starts_with("AB"));
            assert!(error.code.len() <= 64);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    assert_eq!(
        answer(429, r#"{"error":"too many requests"}"#),
        SendResult::retry("HTTP-429", "too many requests")
    );
    assert_eq!(
        answer(503, r#"{"message":"maintenance"}"#),
        SendResult::retry("HTTP-503", "maintenance")
    );
    assert_eq!(
        answer(500, ""),
        SendResult::retry("HTTP-500", "the gateway sent an empty body")
    );
    assert_eq!(
        answer(502, "  <html>Bad Gateway</html>\n"),
        SendResult::retry("HTTP-502", "<html>Bad Gateway</html>")
    );
    // A body without a usable error field is quoted: the first 200 characters.
    let html = format!("<html>{}</html>", "x".repeat(500));
    match answer(504, &html) {
        SendResult::Retry(error) => {
            assert_eq!(error.code, "HTTP-504");
            assert_eq!(error.description, format!("<html>{}…", "x".repeat(194)));
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[test]
fn other_4xx_fail_for_good_with_the_gateways_words() {
    assert_eq!(
        answer(400, r#"{"error":"invalid destination"}"#),
        SendResult::failed("HTTP-400", "invalid destination")
    );
    assert_eq!(
        answer(401, r#"{"error":{"code":"auth","message":"bad token"}}"#),
        SendResult::failed("auth", "bad token")
    );
    assert_eq!(
        answer(402, r#"{"error":"","message":"no credit"}"#),
        SendResult::failed("HTTP-402", "no credit")
    );
    assert_eq!(
        answer(404, r#"{"detail":"no such route"}"#),
        SendResult::failed("HTTP-404", r#"{"detail":"no such route"}"#)
    );
    assert_eq!(
        answer(301, ""),
        SendResult::failed("HTTP-301", "the gateway sent an empty body")
    );
}

#[test]
fn a_gateways_own_code_beats_the_http_status() {
    assert_eq!(
        answer(400, r#"{"code":"E42","message":"destination barred"}"#),
        SendResult::failed("E42", "destination barred")
    );
    assert_eq!(
        answer(422, r#"{"code":21211,"error":"not a mobile number"}"#),
        SendResult::failed("21211", "not a mobile number")
    );
    assert_eq!(
        answer(503, r#"{"error":{"code":"MAINT","message":"back at 6"}}"#),
        SendResult::retry("MAINT", "back at 6")
    );
    // An empty code is no code.
    assert_eq!(
        answer(400, r#"{"code":" ","error":"bad"}"#),
        SendResult::failed("HTTP-400", "bad")
    );
}

#[test]
fn body_bytes_that_are_not_utf8_are_quoted_lossily() {
    let result = response::parse(&HttpResponse {
        status: 503,
        headers: vec![],
        body: vec![b'o', b'h', 0xff, b'!'],
    });
    assert_eq!(result, SendResult::retry("HTTP-503", "oh\u{fffd}!"));
}

#[test]
fn clip_cuts_on_characters_and_marks_the_cut() {
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcd", 3), "abc…");
    assert_eq!(clip("ééé", 2), "éé…");
}
