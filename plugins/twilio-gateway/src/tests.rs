//! Whole-plugin tests against a fake host: the request built for an entry (URL,
//! headers, form body), each refusal code, and the verdict on each kind of Twilio
//! answer (see README.md). Setting rules are tested one by one in settings.rs.

use switchyard_guest::{Channel, Communication, Direction, HttpMethod, HttpResponse};

use super::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";

/// `account_sid:auth_token` of [`settings`], base64-encoded.
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpzM2NyZXQ=";

/// Valid settings with the given extra members (JSON, each with a leading comma).
fn settings(extra: &str) -> String {
    format!(r#"{{"account_sid":"{SID}","auth_token":"s3cret"{extra}}}"#)
}

/// The host as far as this plugin sees it: settings only.
struct FakeHost {
    settings: String,
}

impl Platform for FakeHost {
    fn settings(&self) -> String {
        self.settings.clone()
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
    request::build(
        entry,
        &FakeHost {
            settings: settings.into(),
        },
    )
}

fn refusal(result: Result<HttpRequest, ProcessError>, code: &str) -> String {
    match result {
        Err(error) if error.code == code => error.description,
        other => panic!("expected a {code} refusal, got {other:?}"),
    }
}

fn body_text(request: &HttpRequest) -> &str {
    std::str::from_utf8(&request.body).expect("a form body is ASCII")
}

/// The body read back as a server reads a form: split at `&` and `=`, `+` as a space,
/// `%XX` as a byte, UTF-8. Independent of the encoder, so a round trip checks it.
fn decode_form(body: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8(out).expect("UTF-8")
    };
    body.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            (decode(name), decode(value))
        })
        .collect()
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
fn an_outgoing_sms_becomes_a_form_post_to_the_accounts_messages_with_basic_auth() {
    let request = build(
        &sms(1042, "+32470123456", "Your code is 1234"),
        &settings(""),
    )
    .unwrap();
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(
        request.url,
        format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(
        request.headers,
        pairs(&[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", BASIC),
            ("I-Twilio-Idempotency-Token", "switchyard-1042"),
            ("Idempotency-Key", "switchyard-1042"),
        ])
    );
    // The exact bytes README.md shows: fields in this order, `+` as %2B, space as `+`.
    assert_eq!(
        body_text(&request),
        "To=%2B32470123456&From=%2B32470999999&Body=Your+code+is+1234"
    );
}

#[test]
fn basic_auth_is_the_base64_of_account_sid_colon_auth_token() {
    let request = build(&sms(1, "+32470123456", "hi"), &settings("")).unwrap();
    let authorization = &request.headers[1].1;
    assert_eq!(
        authorization,
        &format!(
            "Basic {}",
            encoding::base64(format!("{SID}:s3cret").as_bytes())
        )
    );
    // And that constant, checked once by hand, is what README.md's example encodes.
    assert_eq!(authorization, BASIC);
}

#[test]
fn the_same_entry_always_gets_the_same_request_and_another_entry_another_key() {
    let entry = sms(7, "+32470123456", "hello");
    assert_eq!(build(&entry, &settings("")), build(&entry, &settings("")));
    let other = build(&sms(8, "+32470123456", "hello"), &settings("")).unwrap();
    assert_eq!(other.headers[2].1, "switchyard-8");
    assert_eq!(other.headers[3].1, "switchyard-8");
}

#[test]
fn base_url_status_callback_and_sender_override_shape_the_request() {
    let request = build(
        &sms(3, "+4915112345678", "hi"),
        &settings(
            r#","base_url":"http://127.0.0.1:8080/twilio/",
               "status_callback":"https://cc.example/sms/status?tenant=a&b=1",
               "sender_override":"ACME Bank""#,
        ),
    )
    .unwrap();
    assert_eq!(
        request.url,
        format!("http://127.0.0.1:8080/twilio/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(
        body_text(&request),
        "To=%2B4915112345678&From=ACME+Bank&Body=hi\
         &StatusCallback=https%3A%2F%2Fcc.example%2Fsms%2Fstatus%3Ftenant%3Da%26b%3D1"
    );
    assert_eq!(
        decode_form(body_text(&request)),
        pairs(&[
            ("To", "+4915112345678"),
            ("From", "ACME Bank"),
            ("Body", "hi"),
            (
                "StatusCallback",
                "https://cc.example/sms/status?tenant=a&b=1"
            ),
        ])
    );
}

#[test]
fn a_messaging_service_replaces_from() {
    let request = build(
        &sms(4, "+32470123456", "hi"),
        &settings(&format!(r#","messaging_service_sid":"{MG}""#)),
    )
    .unwrap();
    assert_eq!(
        body_text(&request),
        format!("To=%2B32470123456&MessagingServiceSid={MG}&Body=hi")
    );
}

#[test]
fn form_special_characters_in_the_body_are_escaped_and_survive_a_round_trip() {
    let text = "a&b=c+d e%f?g#h/i";
    let request = build(&sms(1, "+32470123456", text), &settings("")).unwrap();
    assert_eq!(
        body_text(&request),
        "To=%2B32470123456&From=%2B32470999999&Body=a%26b%3Dc%2Bd+e%25f%3Fg%23h%2Fi"
    );
    assert_eq!(
        decode_form(body_text(&request))[2],
        pairs(&[("Body", text)])[0]
    );
}

#[test]
fn unicode_bodies_are_utf8_percent_encoded() {
    let request = build(&sms(1, "+32470123456", "Zoë 👋"), &settings("")).unwrap();
    assert!(
        body_text(&request).ends_with("&Body=Zo%C3%AB+%F0%9F%91%8B"),
        "{}",
        body_text(&request)
    );
    // Every printable ASCII character, line breaks, accents, CJK and a flag (two
    // regional indicators) come back exactly as they went in.
    let mut text: String = (' '..='~').collect();
    text.push_str("\r\nGrüße & tschüss, 日本語 🇧🇪 ✓");
    let request = build(&sms(1, "+32470123456", &text), &settings("")).unwrap();
    assert!(body_text(&request).is_ascii());
    assert_eq!(
        decode_form(body_text(&request)),
        pairs(&[
            ("To", "+32470123456"),
            ("From", "+32470999999"),
            ("Body", &text),
        ])
    );
}

#[test]
fn only_outgoing_sms_entries_are_sent() {
    let mut email = sms(1, "+32470123456", "hi");
    email.communication.media = Channel::Email;
    assert_eq!(
        refusal(build(&email, &settings("")), "GW-MEDIA"),
        "the Twilio gateway sends SMS only, not email entries"
    );
    let mut device = sms(1, "+32470123456", "hi");
    device.communication.media = Channel::Device;
    assert_eq!(
        refusal(build(&device, &settings("")), "GW-MEDIA"),
        "the Twilio gateway sends SMS only, not device entries"
    );

    let mut incoming = sms(1, "+32470123456", "hi");
    incoming.communication.direction = Direction::Incoming;
    assert_eq!(
        refusal(build(&incoming, &settings("")), "GW-DIRECTION"),
        "the Twilio gateway sends outgoing entries only, not incoming ones"
    );
}

#[test]
fn a_recipient_that_is_not_e164_is_refused() {
    assert_eq!(
        refusal(
            build(&sms(1, "0470 12 34 56", "hi"), &settings("")),
            "GW-NUMBER"
        ),
        r#"recipient "0470 12 34 56" is not an E.164 number (+ and 8 to 15 digits, no spaces)"#
    );
    refusal(build(&sms(1, "+3247", "hi"), &settings("")), "GW-NUMBER");
    refusal(
        build(&sms(1, "whatsapp:+32470123456", "hi"), &settings("")),
        "GW-NUMBER",
    );
    // A hostile recipient cannot blow up the description past the host's limit.
    let long = format!("+{}", "9".repeat(10_000));
    assert!(refusal(build(&sms(1, &long, "hi"), &settings("")), "GW-NUMBER").len() < 200);
}

#[test]
fn the_entrys_own_faults_are_reported_even_when_the_settings_are_broken() {
    let mut email = sms(1, "+32470123456", "hi");
    email.communication.media = Channel::Email;
    refusal(build(&email, "{}"), "GW-MEDIA");
    let mut incoming = sms(1, "+32470123456", "hi");
    incoming.communication.direction = Direction::Incoming;
    refusal(build(&incoming, "{}"), "GW-DIRECTION");
    refusal(build(&sms(1, "12345", "hi"), "{}"), "GW-NUMBER");
}

#[test]
fn missing_or_invalid_settings_are_a_config_error_that_never_quotes_the_token() {
    let entry = sms(1, "+32470123456", "hi");
    assert_eq!(
        refusal(build(&entry, "{}"), "GW-CONFIG"),
        "invalid settings: account_sid is missing"
    );
    assert_eq!(
        refusal(build(&entry, "not json"), "GW-CONFIG"),
        "invalid settings: not valid JSON"
    );
    assert_eq!(
        refusal(
            build(&entry, &format!(r#"{{"account_sid":"{SID}"}}"#)),
            "GW-CONFIG"
        ),
        "invalid settings: auth_token is missing"
    );
    assert_eq!(
        refusal(
            build(&entry, &settings(r#","base_url":"api.twilio.com""#)),
            "GW-CONFIG"
        ),
        r#"invalid settings: base_url "api.twilio.com" is not an http:// or https:// URL"#
    );
    assert_eq!(
        refusal(build(&entry, &settings(r#","region":"ie1""#)), "GW-CONFIG"),
        "invalid settings: unknown setting region (known: account_sid, auth_token, \
         base_url, status_callback, messaging_service_sid, sender_override)"
    );
    let description = refusal(
        build(
            &entry,
            &format!(r#"{{"account_sid":"{SID}","auth_token":"s3cret\n"}}"#),
        ),
        "GW-CONFIG",
    );
    assert_eq!(
        description,
        "invalid settings: auth_token contains control characters"
    );
    // Whatever the settings hold, the description stays within the host's limit.
    let huge = settings(&format!(
        r#","base_url":"https://a.example/{}""#,
        "x".repeat(5_000)
    ));
    let description = refusal(build(&entry, &huge), "GW-CONFIG");
    assert!(description.chars().count() <= MAX_DESCRIPTION_CHARS + 1);
    let huge = settings(&format!(r#","{}":1"#, "k".repeat(5_000)));
    let description = refusal(build(&entry, &huge), "GW-CONFIG");
    assert!(description.starts_with("invalid settings: unknown setting kkk"));
    assert!(description.chars().count() <= MAX_DESCRIPTION_CHARS + 1);
}

#[test]
fn a_2xx_with_a_sid_is_sent_under_that_sid() {
    for status in [
        "queued",
        "accepted",
        "scheduled",
        "sending",
        "sent",
        "delivered",
    ] {
        assert_eq!(
            answer(
                201,
                &format!(r#"{{"sid":"SM1234","status":"{status}","error_code":null}}"#)
            ),
            SendResult::sent("SM1234"),
            "{status}"
        );
    }
    assert_eq!(
        answer(200, r#"{"sid":" MM99 ","status":"queued"}"#),
        SendResult::sent("MM99")
    );
    assert_eq!(
        answer(201, r#"{"status":"queued"}"#),
        SendResult::Sent(None)
    );
    assert_eq!(answer(201, r#"{"sid":""}"#), SendResult::Sent(None));
    assert_eq!(answer(201, r#"{"sid":12}"#), SendResult::Sent(None));
    assert_eq!(answer(202, ""), SendResult::Sent(None));
    assert_eq!(answer(200, "OK"), SendResult::Sent(None));
    assert_eq!(answer(200, r#"["SM1"]"#), SendResult::Sent(None));
    // Longer than the host accepts: the message was still sent, under no usable id.
    let long = format!(r#"{{"sid":"SM{}"}}"#, "x".repeat(1_100));
    assert_eq!(answer(201, &long), SendResult::Sent(None));
}

#[test]
fn a_2xx_with_status_failed_or_undelivered_fails_with_the_error_fields() {
    assert_eq!(
        answer(
            201,
            r#"{"sid":"SM1","status":"failed","error_code":30007,"error_message":"Message filtered"}"#
        ),
        SendResult::failed("30007", "Message filtered")
    );
    assert_eq!(
        answer(
            200,
            r#"{"sid":"SM1","status":"Undelivered","error_code":"30003","error_message":" Unreachable handset "}"#
        ),
        SendResult::failed("30003", "Unreachable handset")
    );
    assert_eq!(
        answer(
            201,
            r#"{"status":"failed","error_code":null,"error_message":null}"#
        ),
        SendResult::failed("GW-REJECTED", "Twilio answered with status failed")
    );
    assert_eq!(
        answer(201, r#"{"status":"undelivered","error_message":""}"#),
        SendResult::failed("GW-REJECTED", "Twilio answered with status undelivered")
    );
    // A code the host would refuse is made to fit: one line, at most 64 bytes.
    match answer(
        201,
        &format!(
            r#"{{"status":"failed","error_code":"A\nB{}"}}"#,
            "é".repeat(40)
        ),
    ) {
        SendResult::Failed(error) => {
            assert!(error.code.starts_with("AB"));
            assert!(error.code.len() <= 64);
            assert!(!error.code.chars().any(char::is_control));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // So is a description.
    match answer(
        201,
        &format!(
            r#"{{"status":"failed","error_message":"{}"}}"#,
            "ü".repeat(3_000)
        ),
    ) {
        SendResult::Failed(error) => {
            assert_eq!(error.description.chars().count(), MAX_DESCRIPTION_CHARS + 1);
            assert!(error.description.ends_with('…'));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_4xx_with_twilios_error_object_fails_with_twilios_code_and_message() {
    assert_eq!(
        answer(
            400,
            r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#
        ),
        SendResult::failed(
            "21211",
            "The 'To' number +1555 is not a valid phone number."
        )
    );
    assert_eq!(
        answer(
            401,
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#
        ),
        SendResult::failed("20003", "Authenticate")
    );
    assert_eq!(
        answer(
            404,
            r#"{"code":"20404","message":"The requested resource was not found"}"#
        ),
        SendResult::failed("20404", "The requested resource was not found")
    );
    // Without a code: the HTTP status; without a message: the body's start.
    assert_eq!(
        answer(400, r#"{"message":"bad request"}"#),
        SendResult::failed("HTTP-400", "bad request")
    );
    assert_eq!(
        answer(403, r#"{"code":null,"detail":"forbidden"}"#),
        SendResult::failed("HTTP-403", r#"{"code":null,"detail":"forbidden"}"#)
    );
    assert_eq!(
        answer(400, ""),
        SendResult::failed("HTTP-400", "the gateway sent an empty body")
    );
    assert_eq!(
        answer(413, "<html>Request Entity Too Large</html>"),
        SendResult::failed("HTTP-413", "<html>Request Entity Too Large</html>")
    );
}

#[test]
fn rate_limits_and_server_errors_are_retried_with_the_http_status_as_code() {
    assert_eq!(
        answer(
            429,
            r#"{"code":20429,"message":"Too Many Requests","status":429}"#
        ),
        SendResult::retry("HTTP-429", "Too Many Requests")
    );
    assert_eq!(
        answer(500, r#"{"code":20500,"message":"Internal Server Error"}"#),
        SendResult::retry("HTTP-500", "Internal Server Error")
    );
    assert_eq!(
        answer(503, ""),
        SendResult::retry("HTTP-503", "the gateway sent an empty body")
    );
    assert_eq!(
        answer(502, "  <html>Bad Gateway</html>\n"),
        SendResult::retry("HTTP-502", "<html>Bad Gateway</html>")
    );
    // A body without a usable message is quoted: the first 200 characters.
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
fn other_statuses_fail_with_the_http_status_as_code() {
    assert_eq!(
        answer(301, ""),
        SendResult::failed("HTTP-301", "the gateway sent an empty body")
    );
    assert_eq!(
        answer(302, r#"{"code":1,"message":"moved"}"#),
        SendResult::failed("HTTP-302", "moved")
    );
    assert_eq!(
        answer(100, "continue"),
        SendResult::failed("HTTP-100", "continue")
    );
    assert_eq!(answer(600, "?"), SendResult::failed("HTTP-600", "?"));
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
