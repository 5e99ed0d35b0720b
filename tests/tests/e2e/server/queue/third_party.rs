//! Third parties processing their own entries through the web API: list the Pending
//! entries of their system, claim one exclusively, settle it Completed or Rejected.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard_tests::eventually;

use super::super::assert_error;
use super::*;

struct Party<'a> {
    app: &'a TestApp,
    name: &'a str,
    token: String,
}

impl Party<'_> {
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/external-systems/{}{path}", self.name)),
            )
            .bearer_auth(&self.token)
    }

    async fn pending(&self) -> Vec<i64> {
        let page: Value = self
            .app
            .client
            .get(
                self.app
                    .url(&format!("/api/v1/external-systems/{}/entries", self.name)),
            )
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["number"].as_i64().unwrap())
            .collect()
    }

    async fn claim(&self, number: i64) -> reqwest::Response {
        self.post(&format!("/entries/{number}/claim"))
            .send()
            .await
            .unwrap()
    }

    async fn settle(&self, number: i64, body: Value) -> reqwest::Response {
        self.post(&format!("/entries/{number}/settle"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

async fn system(app: &TestApp, name: &str) -> String {
    let created = expect(
        app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": name, "kind": "third_party" })),
        201,
    )
    .await;
    created["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_third_party_lists_claims_and_settles_its_entries() {
    let app = app_with_worker().await;
    let billing = Party {
        app: &app,
        name: "billing",
        token: system(&app, "billing").await,
    };
    let other = Party {
        app: &app,
        name: "other",
        token: system(&app, "other").await,
    };
    let mut numbers = Vec::new();
    for i in 0..3 {
        let e = create(
            &app,
            json!({ "media": "email", "sender": "a@acme.example",
            "recipient": format!("c{i}@example.com"), "subject": "Invoice", "body": "x",
            "external_system": "billing" }),
        )
        .await;
        numbers.push(e["number"].as_i64().unwrap());
    }
    let mine = create(
        &app,
        json!({ "media": "email", "sender": "a@acme.example",
        "recipient": "z@example.com", "body": "x", "external_system": "other" }),
    )
    .await;
    // The host's worker leaves them alone: they belong to the third party. Once it has
    // settled an entry of its own created after them, a pass of the worker has seen
    // them (it claims due entries in number order) and left them Pending.
    enable_email(&app, 25).await;
    let mut control = json!({ "media": "email", "sender": "a@acme.example",
                              "recipient": "c@example.com", "body": "x" });
    control["direction"] = json!("incoming");
    let control = create(&app, control).await;
    let control = settled(&app, &control["number"]).await;
    assert_eq!(
        control["error_description"],
        "Incoming Emails not Supported"
    );
    assert_eq!(billing.pending().await, numbers);
    assert_eq!(other.pending().await, [mine["number"].as_i64().unwrap()]);

    // Tokens are per system.
    let wrong = Party {
        app: &app,
        name: "billing",
        token: other.token.clone(),
    };
    assert_error(wrong.claim(numbers[0]).await, 401, "unauthorized").await;
    let nobody = Party {
        app: &app,
        name: "nobody",
        token: billing.token.clone(),
    };
    assert_error(nobody.claim(numbers[0]).await, 401, "unauthorized").await;
    // Another system's entry is not found for this one.
    assert_error(
        billing.claim(mine["number"].as_i64().unwrap()).await,
        404,
        "not_found",
    )
    .await;

    // A claim is exclusive, and a claimed entry leaves the list.
    let claim: Value = billing.claim(numbers[0]).await.json().await.unwrap();
    assert_eq!(claim["entry"]["number"], numbers[0]);
    assert_eq!(claim["entry"]["status"], "sending");
    assert!(claim["expires_at"].as_i64().unwrap() > 0);
    let again = billing.claim(numbers[0]).await;
    let message = assert_error(again, 409, "conflict").await;
    assert!(message.contains("claimed until"), "{message}");
    assert_eq!(billing.pending().await, numbers[1..]);

    // The admin API does not process it either.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/queue/{}/process", numbers[1]),
        None,
    )
    .await;
    assert_eq!(status, 409);

    // Settling needs the claim; a wrong one changes nothing.
    let lost = billing
        .settle(
            numbers[0],
            json!({ "claim": "not-my-claim", "outcome": "completed" }),
        )
        .await;
    assert_error(lost, 409, "claim_lost").await;
    let no_code = billing
        .settle(
            numbers[0],
            json!({ "claim": claim["claim"], "outcome": "rejected" }),
        )
        .await;
    assert_error(no_code, 422, "invalid_field").await;
    let done = billing
        .settle(
            numbers[0],
            json!({ "claim": claim["claim"], "outcome": "completed", "result": "INV-77" }),
        )
        .await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["state"], "completed");
    assert_eq!(done["result"], "INV-77");
    assert_eq!(done["log"]["updated_by"], "external system billing");
    assert_eq!(statuses(&done), ["pending", "sending", "sent"]);
    // Settling twice is refused.
    let twice = billing
        .settle(
            numbers[0],
            json!({ "claim": claim["claim"], "outcome": "completed" }),
        )
        .await;
    assert_error(twice, 409, "claim_lost").await;

    // Rejected with the third party's error code and description.
    let claim: Value = billing.claim(numbers[1]).await.json().await.unwrap();
    let rejected: Value = billing
        .settle(
            numbers[1],
            json!({ "claim": claim["claim"], "outcome": "rejected",
        "error_code": "B-17", "error_description": "customer account closed" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["status"], "failed");
    assert_eq!(rejected["error_code"], "B-17");
    assert_eq!(rejected["error_description"], "customer account closed");

    // A claim that ran out can be taken by someone else, and the old claim is then lost.
    let short: Value = billing
        .post(&format!("/entries/{}/claim", numbers[2]))
        .json(&json!({ "lease_seconds": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Another claim is refused until the lease runs out; the first one granted after
    // that is the new claim.
    let taken: Value = eventually(
        "the 1 s lease to run out",
        Duration::from_secs(10),
        || async {
            let response = billing.claim(numbers[2]).await;
            match response.status().as_u16() {
                200 => Some(response.json().await.unwrap()),
                409 => None,
                other => panic!("claim answered {other}: {}", response.text().await.unwrap()),
            }
        },
    )
    .await;
    assert_ne!(taken["claim"], short["claim"]);
    let late = billing
        .settle(
            numbers[2],
            json!({ "claim": short["claim"], "outcome": "completed" }),
        )
        .await;
    assert_error(late, 409, "claim_lost").await;
    let ok = billing
        .settle(
            numbers[2],
            json!({ "claim": taken["claim"], "outcome": "completed" }),
        )
        .await;
    assert_eq!(ok.status(), 200);

    // A system with pending entries cannot be deleted.
    let (status, _) = call(&app, Method::DELETE, "/api/v1/external-systems/other", None).await;
    assert_eq!(status, 409);
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/api/v1/external-systems/billing",
        None,
    )
    .await;
    assert_eq!(status, 204);
}
