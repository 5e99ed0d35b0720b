//! Sends an SMS entry through the gateway plugin: the plugin describes the HTTP request,
//! the host performs it with reqwest (timeout, bounded retries, an idempotency key),
//! and the plugin reads the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::Empty;

use crate::domain::channel::Channel;
use crate::domain::queue::{
    HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError, QueueEntry, SendResult,
};
use crate::metrics::Metrics;
use crate::runtime::host::KvChanges;
use crate::runtime::{HostEnv, InvokeError, Limits, Plugin, World};
use crate::sandbox;

/// The most of a gateway's answer handed to the plugin: SMS gateways answer with a
/// few hundred bytes; a larger body is cut rather than buffered without bound.
pub const MAX_RESPONSE_BODY: usize = 64 << 10;

/// The header that makes a resent entry the same request to the gateway.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The idempotency key of entry `number`: stable across retries and restarts.
pub fn idempotency_key(number: u64) -> String {
    format!("switchyard-{number}")
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The gateway accepted it, with its reference for receipts if it gave one.
    Sent(Option<String>),
    /// The gateway (or the plugin on its behalf) refused it for good.
    Refused(ProcessError),
    /// Worth trying again: the gateway asked for it or could not be reached.
    Retry(ProcessError),
    /// The plugin broke (trap, timeout, invalid request): retrying would not help.
    Broken(ProcessError),
}

/// The first half of an attempt: the plugin builds the request. Plugin calls run as
/// tasks of their own, so a panic is this attempt's failure and not the worker's; each
/// runs in its own span (inside the caller's) and is counted in `metrics`; kv writes
/// are collected in `kv`. Built before the sender's turn is taken, so the time the
/// plugin takes never comes between the turn and the request leaving.
pub async fn build(
    plugin: &Arc<Plugin>,
    env: &HostEnv,
    limits: &Limits,
    entry: &QueueEntry,
    kv: &mut KvChanges,
    metrics: &Metrics,
) -> Result<HttpRequestSpec, Attempt> {
    let built = {
        let (plugin, env, limits, entry) = (plugin.clone(), env.clone(), *limits, entry.clone());
        let (span, metrics) = (
            plugin_span(&plugin, &entry, "build-request"),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let call = sandbox::build_request(&plugin, &env, &limits, &entry);
            metrics.invoke(World::Gateway, &span, call).await
        })
        .await
    };
    let request = match built {
        Err(join) => return Err(Attempt::Broken(plugin_error("panicked", &join.to_string()))),
        Ok(Err(e)) => return Err(Attempt::Broken(invoke_error("build-request", &e))),
        Ok(Ok(invocation)) => {
            merge(kv, invocation.kv_changes);
            match invocation.value {
                Err(refusal) => return Err(Attempt::Refused(refusal)),
                Ok(request) => request,
            }
        }
    };
    request
        .check()
        .map_err(|problem| Attempt::Broken(plugin_error("invalid_request", &problem)))?;
    Ok(request)
}

/// The second half: sends the built request at once and lets the plugin judge the
/// answer.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    client: &reqwest::Client,
    plugin: &Arc<Plugin>,
    env: &HostEnv,
    limits: &Limits,
    entry: &QueueEntry,
    request: &HttpRequestSpec,
    timeout: Duration,
    kv: &mut KvChanges,
    metrics: &Metrics,
) -> Attempt {
    let started = Instant::now();
    let performed = perform(client, request, entry.number, timeout).await;
    metrics.send_attempt(Channel::Sms, started.elapsed());
    let response = match performed {
        Ok(response) => response,
        Err(e) => return Attempt::Retry(e),
    };
    let judged = {
        let (plugin, env, limits, entry) = (plugin.clone(), env.clone(), *limits, entry.clone());
        let (span, metrics) = (
            plugin_span(&plugin, &entry, "parse-response"),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let call = sandbox::parse_response(&plugin, &env, &limits, &entry, &response);
            metrics.invoke(World::Gateway, &span, call).await
        })
        .await
    };
    match judged {
        Err(join) => Attempt::Broken(plugin_error("panicked", &join.to_string())),
        Ok(Err(e)) => Attempt::Broken(invoke_error("parse-response", &e)),
        Ok(Ok(invocation)) => {
            merge(kv, invocation.kv_changes);
            match invocation.value {
                SendResult::Sent(reference) => Attempt::Sent(reference),
                SendResult::Failed(e) => Attempt::Refused(e),
                SendResult::Retry(e) => Attempt::Retry(e),
            }
        }
    }
}

/// The span of one gateway plugin call, a child of the caller's (the queue entry's).
fn plugin_span(plugin: &Plugin, entry: &QueueEntry, call: &'static str) -> tracing::Span {
    tracing::info_span!(
        "plugin",
        world = World::Gateway.name(),
        call,
        plugin = %plugin.info().hash,
        entry = entry.number,
        outcome = Empty,
        error_kind = Empty,
    )
}

fn merge(into: &mut KvChanges, changes: KvChanges) {
    into.0.extend(changes.0);
}

fn plugin_error(kind: &str, text: &str) -> ProcessError {
    ProcessError {
        code: format!("PLUGIN-{}", kind.to_uppercase()),
        description: format!("the gateway plugin failed: {text}"),
    }
}

fn invoke_error(call: &str, e: &InvokeError) -> ProcessError {
    plugin_error(e.kind(), &format!("{call}: {e}"))
}

/// Performs the plugin's request. The host adds the idempotency key when the plugin
/// did not set one, so a gateway that honours it sends a resent entry only once.
async fn perform(
    client: &reqwest::Client,
    request: &HttpRequestSpec,
    number: u64,
    timeout: Duration,
) -> Result<HttpResponseData, ProcessError> {
    let method = match request.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
    };
    let mut builder = client
        .request(method, &request.url)
        .timeout(timeout)
        .body(request.body.clone());
    let mut keyed = false;
    for (name, value) in &request.headers {
        keyed |= name.eq_ignore_ascii_case(IDEMPOTENCY_HEADER);
        builder = builder.header(name, value);
    }
    if !keyed {
        builder = builder.header(IDEMPOTENCY_HEADER, idempotency_key(number));
    }
    let unreachable = |e: reqwest::Error| ProcessError {
        code: if e.is_timeout() {
            "HTTP-TIMEOUT".into()
        } else {
            "HTTP-CONNECT".into()
        },
        // Gateways may take their credentials in the query string: neither the
        // description (stored and logged) nor reqwest's error shows it.
        description: format!(
            "the gateway at {} did not answer: {}",
            crate::domain::secrets::without_query(&request.url),
            super::error_chain(&e.without_url())
        ),
    };
    let mut response = builder.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        let room = MAX_RESPONSE_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_RESPONSE_BODY {
            break;
        }
    }
    Ok(HttpResponseData {
        status,
        headers,
        body,
    })
}
