//! The WebSocket transport, at the same URL as long-polling: each text frame from the
//! client is an array of messages, and each answer goes back as a frame of its own.
//! Frames are answered concurrently, since a connect held on the socket must not hold
//! up a subscribe sent after it.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::feed::Feed;
use super::long_polling::bearer;
use super::protocol;
use super::server::{Cometd, Phase, Replies};
use super::session::Transport;

/// Frames being answered at once on one socket at most. A browser has a connect held
/// and now and then a subscribe; a socket past this is flooding, and is closed.
const MAX_IN_FLIGHT: usize = 16;

/// Upgrades a GET to a WebSocket; the `Authorization` header of the upgrade request
/// serves as the token of every handshake on the socket that carries none.
pub async fn upgrade<F: Feed>(
    State(server): State<Cometd<F>>,
    headers: HeaderMap,
    socket: WebSocketUpgrade,
) -> Response {
    let token = bearer(&headers).map(str::to_owned);
    socket
        .max_message_size(protocol::MAX_BODY_BYTES)
        .on_upgrade(move |socket| serve(server, socket, token))
}

async fn serve<F: Feed>(server: Cometd<F>, mut socket: WebSocket, token: Option<String>) {
    let (answers, mut answered) = mpsc::channel::<Replies>(16);
    let mut tasks = JoinSet::new();
    let mut phase = server.phase();
    phase.mark_changed();
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let text = match frame {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Binary(_))) => {
                        let refusal = json!([{ "successful": false, "error": "400::binary frames are not Bayeux messages" }]);
                        server.body_refused();
                        if socket.send(Frame::text(refusal.to_string())).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                    Some(Ok(Frame::Close(_)) | Err(_)) | None => break,
                };
                if tasks.len() >= MAX_IN_FLIGHT {
                    server.body_refused();
                    let _ = socket.send(Frame::Close(Some(CloseFrame {
                        code: close_code::POLICY,
                        reason: "too many requests in flight".into(),
                    }))).await;
                    break;
                }
                match protocol::parse_body(text.as_bytes()) {
                    Ok(messages) => {
                        let server = server.clone();
                        let answers = answers.clone();
                        let token = token.clone();
                        tasks.spawn(async move {
                            let replies = server.handle(messages, Transport::WebSocket, token.as_deref()).await;
                            // Unsent, the replies' notifications are given back as they drop.
                            let _ = answers.send(replies).await;
                        });
                    }
                    Err(e) => {
                        server.body_refused();
                        let refusal = json!([{ "successful": false, "error": format!("400::{e}") }]);
                        if socket.send(Frame::text(refusal.to_string())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            Some(replies) = answered.recv() => {
                let text = serde_json::Value::Array(replies.messages).to_string();
                if socket.send(Frame::text(text)).await.is_ok() {
                    for delivered in replies.delivered {
                        server.written(delivered).await;
                    }
                } else {
                    break;
                }
            }
            // The JoinSet keeps finished tasks until reaped.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = phase.changed() => {
                let closed = *phase.borrow_and_update() == Phase::Closed;
                if !closed {
                    continue;
                }
                let _ = socket.send(Frame::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "server stopping".into(),
                }))).await;
                break;
            }
        }
    }
    // Connects still held on this socket have nowhere to answer; what they would have
    // carried is given back (as their replies drop) for the client's next connection.
    tasks.shutdown().await;
}
