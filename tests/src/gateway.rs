//! A local HTTP SMS gateway for the tests: speaks the JSON gateway protocol and a
//! Twilio-style Messages API, records every request as it arrives, honours idempotency
//! keys, and can be told to fail, to answer slowly or to refuse a number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the gateway received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived (before any programmed delay).
    pub received_at: Instant,
    /// It carried an idempotency key that was accepted before: answered as then.
    pub replayed: bool,
}

impl RecordedRequest {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct Behaviour {
    requests: Vec<RecordedRequest>,
    /// Accepted idempotency keys and the answer given.
    accepted: HashMap<String, (u16, Value)>,
    /// Messages accepted without a key, plus distinct keys accepted.
    sent: usize,
    fail_next: Vec<u16>,
    refused: HashMap<String, (u16, Value)>,
    delay: Duration,
    twilio: Option<(String, String)>,
}

/// The gateway; stops when dropped.
pub struct RecordingGateway {
    url: String,
    state: Arc<Mutex<Behaviour>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordingGateway {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Behaviour::default()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state, task }
    }

    /// The base URL: `/json` takes the JSON protocol, `/2010-04-01/Accounts/{sid}/
    /// Messages.json` the Twilio form.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Messages the gateway accepted to send: a replayed key counts once.
    pub fn sent_count(&self) -> usize {
        self.state.lock().unwrap().sent
    }

    /// Answers requests to `number` with `status` and `body` from now on.
    pub fn fail_recipient(&self, number: &str, status: u16, body: Value) {
        self.lock()
            .refused
            .insert(number.to_owned(), (status, body));
    }

    /// Answers the next `n` requests with `status` (e.g. 503) and a JSON error.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Waits this long before answering each request from now on.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The Twilio account the Messages API accepts (HTTP Basic auth).
    pub fn twilio_account(&self, sid: &str, token: &str) {
        self.lock().twilio = Some((sid.to_owned(), token.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.state.lock().unwrap()
    }
}

async fn handle(
    State(state): State<Arc<Mutex<Behaviour>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let key = headers
        .get("idempotency-key")
        .or_else(|| headers.get("i-twilio-idempotency-token"))
        .cloned();
    let path = uri.path().to_owned();
    let delay = {
        let mut s = state.lock().unwrap();
        let replayed = key.as_ref().is_some_and(|k| s.accepted.contains_key(k));
        s.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.to_vec(),
            received_at,
            replayed,
        });
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (status, answer) = answer(&state, &path, &headers, &body, key);
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

fn answer(
    state: &Mutex<Behaviour>,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    key: Option<String>,
) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    if let Some(previous) = key.as_ref().and_then(|k| s.accepted.get(k)) {
        return previous.clone();
    }
    if !s.fail_next.is_empty() {
        let status = s.fail_next.remove(0);
        return (
            status,
            json!({ "error": format!("temporarily unavailable ({status})") }),
        );
    }
    let twilio = path.starts_with("/2010-04-01/Accounts/");
    let recipient = if twilio {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v)
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["to"].as_str().map(str::to_owned))
    };
    if twilio {
        let expected = s.twilio.clone().map(|(sid, token)| basic(&sid, &token));
        if expected.is_none() || headers.get("authorization") != expected.as_ref() {
            return (
                401,
                json!({ "code": 20003, "message": "Authenticate", "status": 401 }),
            );
        }
    }
    if let Some(refusal) = recipient.as_ref().and_then(|r| s.refused.get(r)) {
        return refusal.clone();
    }
    s.sent += 1;
    let n = s.sent;
    let accepted = if twilio {
        (
            201,
            json!({ "sid": format!("SM{n:032x}"), "status": "queued" }),
        )
    } else {
        (
            200,
            json!({ "id": format!("gw-{n}"), "status": "accepted" }),
        )
    };
    if let Some(key) = key {
        s.accepted.insert(key, accepted.clone());
    }
    accepted
}

/// `Authorization: Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(
            super::basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(super::basic("a", "b"), "Basic YTpi");
    }
}
