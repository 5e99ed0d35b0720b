//! The OpenAPI document at `/api/v1/openapi.json`: it is OpenAPI 3.1, served without a
//! token, and it describes exactly the routes the server answers, compared both ways
//! with the router's own table (`switchyard::api::route_table`), so a route added
//! without documentation fails here. The live server is probed as well, so that the
//! table cannot drift from what is served either: every listed (method, path) reaches a
//! handler, and every other method on those paths is refused with 405.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use switchyard::api::{Access, route_table};
use switchyard_tests::spawn_app;

/// The methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &switchyard_tests::TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without a token");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.json().await.unwrap()
}

/// `path` with each `{parameter}` filled with a value of the right type.
fn concrete(path: &str) -> String {
    path.replace("{name}", "billing")
        .replace("{id}", "1")
        .replace("{number}", "1")
        .replace("{version}", "1")
}

#[tokio::test]
async fn the_document_describes_every_route_the_server_answers_and_no_other() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");

    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let table = route_table();
    let served: BTreeSet<(String, String)> = table
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.clone()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
    assert_eq!(served.len(), table.len(), "a route is listed twice");

    // The table is what the server serves: each listed method reaches a handler (the
    // fallbacks answer 404 "no such route" and 405 "method_not_allowed"), each other
    // method of the path is refused. No token is sent, so no handler changes anything.
    for path in paths.keys() {
        let url = app.url(&concrete(path));
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let response = app
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let fallback = status == 405 && body["error"]["code"] == "method_not_allowed"
                || status == 404 && body["error"]["message"] == "no such route";
            let listed = served.contains(&(method.to_string(), path.clone()));
            assert_eq!(
                !fallback,
                listed,
                "{method} {path} answered {status} {text}, but the table says it is {}served",
                if listed { "" } else { "not " }
            );
        }
    }
}

#[tokio::test]
async fn the_document_states_security_errors_and_time_twins() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path, access) in route_table() {
        let operation = &doc["paths"][&path][method.as_str().to_ascii_lowercase()];
        let what = format!("{method} {path}");
        let responses = operation["responses"].as_object().expect(&what);
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{what} documents no success"
        );
        let security = &operation["security"];
        match access {
            Access::Admin => {
                assert_eq!(
                    security,
                    &serde_json::json!([{ "admin_token": [] }]),
                    "{what}"
                );
                assert!(responses.contains_key("401"), "{what}");
            }
            Access::Agent => {
                assert_eq!(
                    security,
                    &serde_json::json!([{ "agent_token": [] }]),
                    "{what}"
                );
                assert!(responses.contains_key("401"), "{what}");
            }
            Access::Public | Access::AgentLogin => {
                assert_eq!(security, &serde_json::json!([{}]), "{what} needs no token");
            }
            Access::Gateway | Access::ThirdParty => {
                assert!(security.as_array().is_some_and(|s| !s.is_empty()), "{what}");
                assert!(responses.contains_key("401"), "{what}");
            }
        }
        if access != Access::Public {
            assert!(responses.contains_key("500"), "{what}");
        }
        // A body is read under the body timeout: too slow a body is a 408.
        if operation.get("requestBody").is_some() {
            assert_eq!(
                responses.get("408").and_then(|r| r["$ref"].as_str()),
                Some("#/components/responses/RequestTimeout"),
                "{what}"
            );
        }
        // `/healthz` answers 503 with its own body; everything else errs alike.
        for (status, response) in responses.iter().filter(|_| access != Access::Public) {
            if status.starts_with('4') || status.starts_with('5') {
                let response = match response["$ref"].as_str() {
                    Some(shared) => {
                        let name = shared.trim_start_matches("#/components/responses/");
                        &doc["components"]["responses"][name]
                    }
                    None => response,
                };
                let text = response.to_string();
                assert!(
                    text.contains("ErrorBody"),
                    "{what} {status} is an error body: {text}"
                );
            }
        }
    }
    for name in doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(
            doc["paths"].to_string().contains(&format!("\"{name}\"")),
            "security scheme {name} is used"
        );
    }

    // The RFC 3339 twins the server adds to times in admin and third-party answers.
    let schemas = &doc["components"]["schemas"];
    for (schema, time) in [
        ("AcdGroup", "created_at"),
        ("LogInformation", "updated_at"),
        ("EntryActivity", "at"),
        ("EntryRecord", "claimed_until"),
        ("ClaimAnswer", "expires_at"),
        ("MessageView", "received_at"),
        ("Agent", "created_at"),
        ("Created", "expires_at"),
        ("ChannelStatus", "since"),
    ] {
        let twin = &schemas[schema]["properties"][format!("{time}_rfc3339")];
        assert_eq!(twin["format"], "date-time", "{schema}.{time}: {twin}");
    }
    // Not in what gateways send or are answered, which the middleware leaves alone.
    assert!(
        schemas["JsonSms"]["properties"]
            .get("received_at_rfc3339")
            .is_none()
    );
}
