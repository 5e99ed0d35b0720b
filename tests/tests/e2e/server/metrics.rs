//! `GET /metrics`: scraped before and after real traffic (direct and plugin-routed
//! inbound messages, a trapping routing application, a retry, a refused post, an SMS
//! sent through the gateway plugin), the counters must have moved by exactly what
//! happened, and the gauges and histograms must be there.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::TestApp;
use switchyard_tests::gateway::RecordingGateway;
use switchyard_tests::metrics::Exposition;

use super::connectors::{created, group};
use super::inbound::{accepted, post_json, routed, token, upload};
use super::queue::{app_without_worker, create, enable_sms, fresh_number, process};

const DIRECT: &str = "+4930555001";
const HOSTILE: &str = "+4930555002";
const KEYWORDS: &str = "+4930555003";
const CUSTOMER: &str = "+4915123456789";

pub(super) async fn scrape(app: &TestApp) -> Exposition {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200, "no admin token is needed");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    Exposition::parse(&text)
}

fn post(to: &str, text: &str, id: &str) -> Value {
    json!({ "from": CUSTOMER, "to": to, "text": text, "message_id": id })
}

/// How much each sample moved between two scrapes.
struct Delta<'a> {
    before: &'a Exposition,
    after: &'a Exposition,
}

impl Delta<'_> {
    fn of(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.value(name, labels) - self.before.value(name, labels)
    }
}

#[tokio::test]
async fn counters_move_by_what_happened_and_gauges_and_histograms_are_exposed() {
    let app = app_without_worker().await;
    let sales = group(&app, "sales").await;
    let fallback = group(&app, "fallback").await;
    group(&app, "ok").await;
    let direct = created(
        &app,
        json!({ "name": "direct", "recipient": DIRECT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let hostile = created(
        &app,
        json!({ "name": "hostile", "recipient": HOSTILE, "require_token": false,
                "routing_type": "routing_application", "fallback_acd_group": fallback }),
    )
    .await;
    upload(&app, &hostile, "hostile").await;
    // No default group: what matches no keyword is rejected by the router.
    let keywords = created(
        &app,
        json!({ "name": "keywords", "recipient": KEYWORDS, "require_token": false,
                "routing_type": "routing_application", "fallback_acd_group": fallback,
                "plugin_settings": { "groups": [] } }),
    )
    .await;
    upload(&app, &keywords, "keyword-router").await;
    let gateway = RecordingGateway::start().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;

    let before = scrape(&app).await;

    let direct_token = token(&direct);
    let mut ids = vec![
        accepted(&app, &direct_token, &post(DIRECT, "hello", "m-1")).await,
        accepted(&app, &direct_token, &post(DIRECT, "again", "m-2")).await,
        accepted(&app, "", &post(HOSTILE, "fine", "m-3")).await,
        accepted(&app, "", &post(HOSTILE, "trap", "m-4")).await,
        accepted(&app, "", &post(KEYWORDS, "hello", "m-5")).await,
    ];
    let retry = post_json(&app, Some(&direct_token), &post(DIRECT, "hello", "m-1")).await;
    assert_eq!(retry.status(), 200, "a retry is a duplicate");
    let refused = post_json(&app, Some("wrong"), &post(DIRECT, "hello", "m-6")).await;
    assert_eq!(refused.status(), 401);
    let mut states = Vec::new();
    for id in ids.drain(..) {
        let message = routed(&app, id).await;
        states.push((
            message["state"].as_str().unwrap().to_owned(),
            message["routing"]["outcome"].clone(),
        ));
    }
    assert_eq!(states[3].1, "fallback", "{states:?}");
    assert_eq!(states[4].0, "rejected", "{states:?}");

    let text = json!({ "media": "sms", "sender": fresh_number(), "recipient": fresh_number(),
                       "body": "Your parcel is on its way" });
    let entry = create(&app, text).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["status"], "sent", "{done}");

    let after = scrape(&app).await;
    let delta = Delta {
        before: &before,
        after: &after,
    };

    // Ingest.
    let ingested = "switchyard_ingest_messages_total";
    assert_eq!(delta.of(ingested, &[("result", "accepted")]), 5.0);
    assert_eq!(delta.of(ingested, &[("result", "duplicate")]), 1.0);
    assert_eq!(
        delta.of(
            "switchyard_ingest_refused_total",
            &[("reason", "unauthorized")]
        ),
        1.0
    );
    assert_eq!(
        delta.of("switchyard_ingest_duration_seconds_count", &[]),
        6.0
    );

    // Routing: two direct and one plugin decision to a group, one fallback after the
    // trap, one rejection.
    let routed_total = "switchyard_routed_messages_total";
    assert_eq!(delta.of(routed_total, &[("outcome", "group")]), 3.0);
    assert_eq!(delta.of(routed_total, &[("outcome", "fallback")]), 1.0);
    assert_eq!(delta.of(routed_total, &[("outcome", "rejected")]), 1.0);
    assert_eq!(delta.of(routed_total, &[("outcome", "dropped")]), 0.0);
    assert_eq!(
        delta.of("switchyard_routing_latency_seconds_count", &[]),
        5.0
    );
    let batches = delta.of("switchyard_routing_batch_size_messages_sum", &[]);
    assert!(batches >= 5.0, "every message was in a batch: {batches}");

    // Plugins: the router's two decisions and one trap; the gateway's two calls.
    let invocations = "switchyard_plugin_invocations_total";
    let routing = ("world", "routing-application");
    assert_eq!(
        delta.of(
            invocations,
            &[routing, ("outcome", "ok"), ("error_kind", "none")]
        ),
        2.0
    );
    assert_eq!(
        delta.of(
            invocations,
            &[routing, ("outcome", "error"), ("error_kind", "trap")]
        ),
        1.0
    );
    assert_eq!(
        delta.of(
            invocations,
            &[
                ("world", "gateway"),
                ("outcome", "ok"),
                ("error_kind", "none")
            ]
        ),
        2.0
    );
    let durations = "switchyard_plugin_invocation_duration_seconds_count";
    assert_eq!(delta.of(durations, &[routing]), 3.0);
    assert_eq!(delta.of(durations, &[("world", "gateway")]), 2.0);

    // Dispatch.
    assert_eq!(
        delta.of(
            "switchyard_queue_entries_settled_total",
            &[("media", "sms"), ("status", "sent")]
        ),
        1.0
    );
    assert_eq!(
        delta.of(
            "switchyard_dispatch_send_duration_seconds_count",
            &[("media", "sms")]
        ),
        1.0
    );

    // Gauges: the queue as it is now, and the pool.
    let depth = |state| after.get("switchyard_queue_entries", &[("state", state)]);
    assert_eq!(depth("completed"), Some(1.0));
    assert_eq!(depth("pending"), Some(0.0));
    assert_eq!(depth("rejected"), Some(0.0));
    let pool = after.get("switchyard_db_pool_connections", &[("pool", "main")]);
    assert!(pool.is_some_and(|n| n >= 1.0), "{pool:?}");
    assert!(
        after
            .get("switchyard_db_pool_idle_connections", &[("pool", "main")])
            .is_some()
    );

    // Every family has its declared type, and histograms have their buckets.
    for (family, kind) in [
        ("switchyard_ingest_messages", "counter"),
        ("switchyard_routed_messages", "counter"),
        ("switchyard_plugin_invocations", "counter"),
        ("switchyard_queue_entries_settled", "counter"),
        ("switchyard_queue_entries", "gauge"),
        ("switchyard_db_pool_connections", "gauge"),
        ("switchyard_ingest_duration_seconds", "histogram"),
        ("switchyard_routing_latency_seconds", "histogram"),
        ("switchyard_plugin_invocation_duration_seconds", "histogram"),
        ("switchyard_dispatch_send_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            after.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    let buckets = after.all("switchyard_routing_latency_seconds_bucket");
    let infinite = buckets
        .iter()
        .find(|s| s.labels["le"] == "+Inf")
        .expect("a +Inf bucket");
    assert_eq!(
        infinite.value,
        after.value("switchyard_routing_latency_seconds_count", &[]),
        "the +Inf bucket holds every observation"
    );
}

#[tokio::test]
async fn metrics_need_no_admin_token_and_start_at_zero() {
    let app = app_without_worker().await;
    let metrics = scrape(&app).await;
    assert_eq!(
        metrics.value(
            "switchyard_ingest_messages_total",
            &[("result", "accepted")]
        ),
        0.0
    );
    assert_eq!(
        metrics.get("switchyard_queue_entries", &[("state", "pending")]),
        Some(0.0)
    );
    // The admin API still needs its token.
    let status = app
        .client
        .request(Method::GET, app.url("/api/v1/acd-groups"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}
