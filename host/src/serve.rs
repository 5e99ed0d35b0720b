//! Serving the router over HTTP/1 with deadlines for slow clients: a request's headers
//! must arrive within one timeout and its body must not stall for longer than another,
//! so connections that never finish a request (slowloris) are closed instead of held.
//! Responses have no deadline: a CometD connect holds its response on purpose, and a
//! WebSocket, once upgraded, is no longer HTTP.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutError};

/// How long a client may take over the parts of its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request (or the end of the previous one on a kept-alive
    /// connection) to the end of its headers.
    pub headers: Duration,
    /// The longest wait for the next part of a body being read. A deadline between
    /// reads rather than for the whole body: a component upload of 64 MiB over a slow
    /// link may take minutes, and keeps sending all along.
    pub body: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting,
/// lets the requests in flight finish and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = router.layer(RequestBodyTimeoutLayer::new(timeouts.body));
    let (stop, stopping) = watch::channel(false);
    // Each connection holds a sender; `recv` answers `None` once all are closed.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: retrying at once would spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.headers)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    // Finishes the request in hand, then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // A client that went away or was too slow: nothing for the operator.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    all_closed.recv().await;
}

/// Whether `error`, or an error it was caused by, is a body that stalled for longer
/// than [`Timeouts::body`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<TimeoutError>())
}
