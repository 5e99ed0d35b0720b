//! The gateway plugins through the real runtime: the JSON SMS gateway here, the
//! Twilio-style one in [`twilio`]. For each, the HTTP request it builds for an outgoing
//! SMS, the entries and settings it refuses, and its verdict on gateway answers, all
//! checked against the host's own contract checks.

use switchyard::domain::channel::Channel;
use switchyard::domain::queue::{
    Communication, Direction, HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError,
    QueueEntry, SendResult,
};
use switchyard::runtime::{HostEnv, Limits, Settings, World};
use switchyard::sandbox;
use switchyard_tests::{block_on, load};

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
    block_on(sandbox::build_request(
        &load("json-gateway", World::Gateway),
        &env(settings),
        &Limits::default(),
        entry,
    ))
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
    block_on(sandbox::parse_response(
        &load("json-gateway", World::Gateway),
        &env(SETTINGS),
        &Limits::default(),
        &sms(1, "+32470123456", "hi"),
        &response,
    ))
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
fn a_gateways_own_error_code_is_kept_over_the_http_status() {
    assert_eq!(
        verdict(400, r#"{"code":"E42","message":"destination barred"}"#),
        SendResult::Failed(error("E42", "destination barred"))
    );
    assert_eq!(
        verdict(503, r#"{"code":"E503","error":"maintenance"}"#),
        SendResult::Retry(error("E503", "maintenance"))
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

/// The Twilio-style gateway (`plugins/twilio-gateway`): a form POST with Basic auth to
/// the account's Messages resource, and Twilio's answers.
mod twilio {
    use switchyard::domain::channel::Channel;
    use switchyard::domain::queue::{
        Direction, HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError, QueueEntry,
        SendResult,
    };
    use switchyard::runtime::{Limits, World};
    use switchyard::sandbox;
    use switchyard_tests::{block_on, load};

    use super::{env, error, sms};

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    /// Valid settings with the given extra members (JSON, each with a leading comma).
    fn settings(extra: &str) -> String {
        format!(r#"{{"account_sid":"{SID}","auth_token":"s3cret"{extra}}}"#)
    }

    /// What the plugin's `build-request` returned, after the host checked it.
    fn build(settings: &str, entry: &QueueEntry) -> Result<HttpRequestSpec, ProcessError> {
        let result = block_on(sandbox::build_request(
            &load("twilio-gateway", World::Gateway),
            &env(settings),
            &Limits::default(),
            entry,
        ))
        .expect("the gateway answers within the contract")
        .value;
        if let Ok(request) = &result {
            // The runtime has run this check already; repeated so the test says so.
            request
                .check()
                .expect("the request passes the host's checks");
        }
        result
    }

    /// The code and description of a refused entry.
    fn refusal(settings: &str, entry: &QueueEntry) -> (String, String) {
        match build(settings, entry) {
            Err(ProcessError { code, description }) => (code, description),
            Ok(request) => panic!("expected a refusal, got {request:?}"),
        }
    }

    fn header<'a>(request: &'a HttpRequestSpec, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body decoded as a server decodes a form.
    fn form(request: &HttpRequestSpec) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&request.body).expect("the body is a form")
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// What the plugin's `parse-response` made of `status` and `body`.
    fn verdict(status: u16, body: &str) -> SendResult {
        let response = HttpResponseData {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        };
        block_on(sandbox::parse_response(
            &load("twilio-gateway", World::Gateway),
            &env(&settings("")),
            &Limits::default(),
            &sms(1, "+32470123456", "hi"),
            &response,
        ))
        .expect("the gateway answers within the contract")
        .value
    }

    #[test]
    fn an_outgoing_sms_becomes_a_form_post_with_basic_auth_and_idempotency_tokens() {
        let request = build(
            &settings(""),
            &sms(1042, "+32470123456", "Your code is 1234"),
        )
        .expect("an outgoing SMS is sent");
        assert_eq!(request.method, HttpMethod::Post);
        assert_eq!(
            request.url,
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
        assert_eq!(
            request.headers,
            pairs(&[
                ("Content-Type", "application/x-www-form-urlencoded"),
                // base64 of "AC0123456789abcdef0123456789abcdef:s3cret"
                (
                    "Authorization",
                    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpzM2NyZXQ=",
                ),
                ("I-Twilio-Idempotency-Token", "switchyard-1042"),
                ("Idempotency-Key", "switchyard-1042"),
            ])
        );
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            "To=%2B32470123456&From=%2B32470999999&Body=Your+code+is+1234"
        );
    }

    #[test]
    fn form_special_characters_and_unicode_survive_the_encoding() {
        let text = "R&D = 100% + more? Grüße 👋 日本 🇧🇪\nline two";
        let request = build(&settings(""), &sms(9, "+32470123456", text)).unwrap();
        assert!(request.body.is_ascii());
        assert_eq!(
            form(&request),
            pairs(&[
                ("To", "+32470123456"),
                ("From", "+32470999999"),
                ("Body", text),
            ])
        );
    }

    #[test]
    fn a_retried_entry_carries_the_same_tokens_and_another_entry_does_not() {
        let entry = sms(77, "+32470123456", "hello");
        let first = build(&settings(""), &entry).unwrap();
        assert_eq!(
            header(&first, "I-Twilio-Idempotency-Token"),
            Some("switchyard-77")
        );
        assert_eq!(header(&first, "Idempotency-Key"), Some("switchyard-77"));
        // Not just the tokens: the whole request is the same on every attempt.
        assert_eq!(build(&settings(""), &entry).unwrap(), first);
        let other = build(&settings(""), &sms(78, "+32470123456", "hello")).unwrap();
        assert_eq!(
            header(&other, "I-Twilio-Idempotency-Token"),
            Some("switchyard-78")
        );
    }

    #[test]
    fn base_url_status_callback_and_messaging_service_shape_the_request() {
        let request = build(
            &settings(&format!(
                r#","base_url":"http://127.0.0.1:8080/","messaging_service_sid":"{MG}",
                   "status_callback":"https://cc.example/status?tenant=acme""#
            )),
            &sms(5, "+4915112345678", "hi"),
        )
        .unwrap();
        assert_eq!(
            request.url,
            format!("http://127.0.0.1:8080/2010-04-01/Accounts/{SID}/Messages.json")
        );
        assert_eq!(
            form(&request),
            pairs(&[
                ("To", "+4915112345678"),
                ("MessagingServiceSid", MG),
                ("Body", "hi"),
                ("StatusCallback", "https://cc.example/status?tenant=acme"),
            ])
        );
        let request = build(
            &settings(r#","sender_override":"ACME""#),
            &sms(5, "+4915112345678", "hi"),
        )
        .unwrap();
        assert_eq!(form(&request)[1], ("From".to_string(), "ACME".to_string()));
    }

    #[test]
    fn entries_that_are_not_outgoing_sms_to_e164_numbers_are_refused() {
        let mut email = sms(1, "ann@example.com", "hi");
        email.communication.media = Channel::Email;
        assert_eq!(
            refusal(&settings(""), &email),
            (
                "GW-MEDIA".into(),
                "the Twilio gateway sends SMS only, not email entries".into()
            )
        );
        let mut incoming = sms(1, "+32470123456", "hi");
        incoming.communication.direction = Direction::Incoming;
        assert_eq!(
            refusal(&settings(""), &incoming),
            (
                "GW-DIRECTION".into(),
                "the Twilio gateway sends outgoing entries only, not incoming ones".into()
            )
        );
        for recipient in ["0470 12 34 56", "32470123456", "+3247", "+32-470-123456"] {
            let (code, description) = refusal(&settings(""), &sms(1, recipient, "hi"));
            assert_eq!(code, "GW-NUMBER", "{recipient}");
            assert!(description.contains(recipient), "{description}");
        }
    }

    #[test]
    fn invalid_settings_are_refused_with_gw_config() {
        let entry = sms(1, "+32470123456", "hi");
        let config = |settings: &str| {
            let (code, description) = refusal(settings, &entry);
            assert_eq!(code, "GW-CONFIG", "{description}");
            description
        };
        assert_eq!(config("{}"), "invalid settings: account_sid is missing");
        assert_eq!(
            config(r#"{"account_sid":"AC123","auth_token":"t"}"#),
            "invalid settings: account_sid is not AC followed by 32 hexadecimal digits"
        );
        assert_eq!(
            config(&format!(
                r#"{{"account_sid":"{SID}","auth_token":"s3cret\r\nX-Evil: 1"}}"#
            )),
            "invalid settings: auth_token contains control characters"
        );
        assert_eq!(
            config(&settings(r#","base_url":"ftp://api.twilio.com""#)),
            r#"invalid settings: base_url "ftp://api.twilio.com" is not an http:// or https:// URL"#
        );
        assert_eq!(
            config(&settings(&format!(
                r#","sender_override":"ACME","messaging_service_sid":"{MG}""#
            ))),
            "invalid settings: sender_override and messaging_service_sid exclude each other \
             (the messaging service chooses the sender)"
        );
        let unknown = config(&settings(r#","token":"typo""#));
        assert!(unknown.contains("unknown setting token"), "{unknown}");
    }

    #[test]
    fn a_201_with_a_sid_is_sent_under_that_sid() {
        assert_eq!(
            verdict(
                201,
                r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#
            ),
            SendResult::Sent(Some("SM0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(
            verdict(200, r#"{"sid":"SM1","status":"accepted"}"#),
            SendResult::Sent(Some("SM1".into()))
        );
        assert_eq!(verdict(202, ""), SendResult::Sent(None));
    }

    #[test]
    fn a_2xx_with_status_failed_or_undelivered_fails_with_the_error_fields() {
        assert_eq!(
            verdict(
                201,
                r#"{"sid":"SM1","status":"failed","error_code":30007,"error_message":"Message filtered"}"#
            ),
            SendResult::Failed(error("30007", "Message filtered"))
        );
        assert_eq!(
            verdict(
                201,
                r#"{"sid":"SM1","status":"undelivered","error_code":null}"#
            ),
            SendResult::Failed(error(
                "GW-REJECTED",
                "Twilio answered with status undelivered"
            ))
        );
    }

    #[test]
    fn a_4xx_fails_with_twilios_code_and_message() {
        assert_eq!(
            verdict(
                400,
                r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#
            ),
            SendResult::Failed(error(
                "21211",
                "The 'To' number +1555 is not a valid phone number."
            ))
        );
        assert_eq!(
            verdict(
                401,
                r#"{"code":20003,"message":"Authenticate","status":401}"#
            ),
            SendResult::Failed(error("20003", "Authenticate"))
        );
        assert_eq!(
            verdict(404, "not found"),
            SendResult::Failed(error("HTTP-404", "not found"))
        );
    }

    #[test]
    fn rate_limits_and_server_errors_are_retried_and_other_statuses_fail() {
        assert_eq!(
            verdict(
                429,
                r#"{"code":20429,"message":"Too Many Requests","status":429}"#
            ),
            SendResult::Retry(error("HTTP-429", "Too Many Requests"))
        );
        assert_eq!(
            verdict(503, ""),
            SendResult::Retry(error("HTTP-503", "the gateway sent an empty body"))
        );
        assert_eq!(
            verdict(302, "moved"),
            SendResult::Failed(error("HTTP-302", "moved"))
        );
    }

    #[test]
    fn oversized_answers_are_cut_to_what_the_host_accepts() {
        // Without the plugin's limits the host would refuse these results as a broken
        // contract (description over 4096 bytes, id over 1024 bytes, code over 64).
        match verdict(
            400,
            &format!(r#"{{"code":21211,"message":"{}"}}"#, "é".repeat(5_000)),
        ) {
            SendResult::Failed(ProcessError { code, description }) => {
                assert_eq!(code, "21211");
                assert!(description.len() <= 4_096, "{} bytes", description.len());
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(
            verdict(201, &format!(r#"{{"sid":"SM{}"}}"#, "x".repeat(2_000))),
            SendResult::Sent(None)
        );
        match verdict(
            400,
            &format!(r#"{{"code":"{}","message":"m"}}"#, "C".repeat(100)),
        ) {
            SendResult::Failed(ProcessError { code, .. }) => assert_eq!(code, "C".repeat(64)),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
