//! `switchyard plugin check` and `switchyard plugin run` on built plugins, as a user
//! would call them.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use switchyard_tests::{plugin_path, switchyard_bin};

fn switchyard(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    switchyard_cached(args, cache.path())
}

/// Runs the binary with its compile cache in `cache`, not the user's home.
fn switchyard_cached(args: &[&str], cache: &Path) -> Output {
    Command::new(switchyard_bin())
        .args(args)
        .env("SWITCHYARD_CACHE_DIR", cache)
        .output()
        .expect("switchyard runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_describes_a_router() {
    let path = plugin_path("keyword-router");
    let out = switchyard(&["plugin", "check", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("world:        routing-application"), "{text}");
    assert!(text.contains("switchyard:routing/kv@0.1.1"), "{text}");
    assert!(text.contains("route: func(message: record"), "{text}");
    assert!(text.contains("compile time:"), "{text}");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        text.contains(&format!("size:         {size} bytes")),
        "{text}"
    );
}

#[test]
fn a_second_check_loads_the_compiled_component_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let path = plugin_path("cas-processor");
    let args = ["plugin", "check", "--json", path.to_str().unwrap()];
    let source = |out: Output| -> String {
        assert!(out.status.success(), "{}", stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json["world"], "external-system");
        json["source"].as_str().unwrap().to_owned()
    };
    assert_eq!(source(switchyard_cached(&args, cache.path())), "compiled");
    assert_eq!(source(switchyard_cached(&args, cache.path())), "disk");
}

#[test]
fn check_explains_a_wrong_world_and_fails() {
    let path = plugin_path("wrong-world");
    let out = switchyard(&[
        "plugin",
        "check",
        "--world",
        "routing-application",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("does not fit world `routing-application`"),
        "{err}"
    );
    assert!(err.contains("export `route` has type"), "{err}");
}

#[test]
fn check_refuses_a_missing_file_and_unknown_flags() {
    let out = switchyard(&["plugin", "check", "/nonexistent/x.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read /nonexistent/x.wasm"));

    let out = switchyard(&["plugin", "check", "--frobnicate", "x.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--frobnicate"), "{}", stderr(&out));

    let out = switchyard(&["plugin", "check", "--world", "mainframe", "x.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown world `mainframe`"));
}

#[test]
fn run_prints_the_decision_with_fuel_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let message = write(
        dir.path(),
        "msg.json",
        r#"{"channel":"sms","sender":"+4915112345678","recipient":"+4930123456","body":"billing question about my invoice"}"#,
    );
    let settings = write(
        dir.path(),
        "s.json",
        r#"{"groups":[{"group":"billing","keywords":["invoice"],"subject":"Billing","priority":5}]}"#,
    );
    let path = plugin_path("keyword-router");
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--message",
        &message,
        "--settings",
        &settings,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("run prints JSON");
    assert_eq!(json["world"], "routing-application");
    assert_eq!(json["result"]["target"]["acd_group"]["group"], "billing");
    assert_eq!(json["result"]["target"]["acd_group"]["priority"], 5);
    assert_eq!(json["result"]["status"], "new");
    assert!(json["fuel_used"].as_u64().unwrap() > 0);
    assert!(json["wall_time_us"].as_u64().unwrap() > 0);
    assert_eq!(
        json["kv_changes"]["last-group:+4915112345678"], "billing",
        "{json}"
    );
}

#[test]
fn run_reports_a_bad_message_file_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let message = write(dir.path(), "msg.json", r#"{"channel":"pigeon","body":"x"}"#);
    let path = plugin_path("keyword-router");
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--message",
        &message,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is not a valid message"), "{err}");
    assert!(err.contains("pigeon"), "{err}");
}

#[test]
fn run_reports_a_contained_plugin_failure() {
    let dir = tempfile::tempdir().unwrap();
    let message = write(
        dir.path(),
        "msg.json",
        r#"{"channel":"sms","sender":"+1","recipient":"+2","body":"loop"}"#,
    );
    let path = plugin_path("hostile");
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--message",
        &message,
        "--fuel",
        "1000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ran out of fuel (1000000 units)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_without_a_message_says_what_is_missing() {
    let path = plugin_path("keyword-router");
    let out = switchyard(&["plugin", "run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pass --message MSG.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_shows_a_gateways_request_body_as_text_and_takes_a_response_body_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let entry = write(
        dir.path(),
        "entry.json",
        r#"{"number":1042,"communication":{"media":"sms","direction":"outgoing",
            "sender":"+32470999999","recipient":"+32470123456","body":"Your code is 1234"}}"#,
    );
    let settings = write(
        dir.path(),
        "s.json",
        r#"{"url":"https://sms.example/v1/messages"}"#,
    );
    let path = plugin_path("json-gateway");
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--entry",
        &entry,
        "--settings",
        &settings,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("run prints JSON");
    let request = &json["result"]["Ok"];
    assert_eq!(request["url"], "https://sms.example/v1/messages", "{json}");
    assert_eq!(request["body_encoding"], "text", "{json}");
    let body: Value = serde_json::from_str(request["body"].as_str().expect("a text body"))
        .expect("the JSON gateway posts JSON");
    assert_eq!(body["text"], "Your code is 1234");

    // The gateway's answer, its body written as text.
    let response = write(
        dir.path(),
        "response.json",
        r#"{"status":400,"headers":[["Content-Type","application/json"]],
            "body":"{\"code\":\"E42\",\"message\":\"destination barred\"}"}"#,
    );
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--entry",
        &entry,
        "--settings",
        &settings,
        "--response",
        &response,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("run prints JSON");
    assert_eq!(
        json["result"]["failed"],
        serde_json::json!({ "code": "E42", "description": "destination barred" }),
        "{json}"
    );

    // A body in hex says so; hex that is not hex is refused with the file named.
    let response = write(
        dir.path(),
        "hex.json",
        r#"{"status":202,"body":"","body_encoding":"hex"}"#,
    );
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--entry",
        &entry,
        "--settings",
        &settings,
        "--response",
        &response,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["result"],
        serde_json::json!({ "sent": null }),
        "{json}"
    );
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"status":200,"body":"not hex","body_encoding":"hex"}"#,
    );
    let out = switchyard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--entry",
        &entry,
        "--response",
        &bad,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));
}
