//! Serving the router over HTTP/1 with deadlines for slow clients: a request's headers
//! must arrive within one timeout, and its body must neither stall for longer than
//! another nor trickle in (past that timeout, it must have come at [`MIN_BODY_RATE`] on
//! average), so connections that never finish a request (slowloris) are closed
//! instead of held.
//! Responses have no deadline: a CometD connect holds its response on purpose, and a
//! WebSocket, once upgraded, is no longer HTTP.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
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
    let grace = timeouts.body;
    let router = router
        .layer(RequestBodyTimeoutLayer::new(timeouts.body))
        .layer(axum::middleware::map_request(
            move |request: Request| async move {
                request.map(|body| Body::new(MinRate::new(body, grace)))
            },
        ));
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
/// than [`Timeouts::body`] or trickled in slower than [`MIN_BODY_RATE`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .any(|e| e.is::<TimeoutError>() || e.is::<BodyTooSlow>())
}

/// The slowest a body may arrive, in bytes a second on average since the request's
/// headers, once the body timeout has passed: far below any real link (an upload at
/// this rate still gets through), far above a client that sends a byte a second to
/// keep a connection busy without ever finishing its body.
pub const MIN_BODY_RATE: u64 = 1_024;

/// Whether a body of which `received` bytes arrived within `elapsed` is too slow: the
/// first `grace` is free (it is the stall timeout's), after that the body must keep up
/// with [`MIN_BODY_RATE`] counted from the end of the grace.
pub fn too_slow(elapsed: Duration, received: u64, grace: Duration) -> bool {
    let Some(late) = elapsed.checked_sub(grace) else {
        return false;
    };
    (received as f64) < late.as_secs_f64() * MIN_BODY_RATE as f64
}

/// A body that trickled in slower than [`MIN_BODY_RATE`]: answered 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {MIN_BODY_RATE} bytes a second")]
pub struct BodyTooSlow;

/// A request body that fails with [`BodyTooSlow`] once it falls behind the rate.
struct MinRate {
    inner: Body,
    started: Instant,
    received: u64,
    grace: Duration,
}

impl MinRate {
    fn new(inner: Body, grace: Duration) -> Self {
        Self {
            inner,
            started: Instant::now(),
            received: 0,
            grace,
        }
    }
}

impl http_body::Body for MinRate {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                self.received += frame.data_ref().map_or(0, |d| d.len() as u64);
                if too_slow(self.started.elapsed(), self.received, self.grace) {
                    Some(Err(Box::new(BodyTooSlow)))
                } else {
                    Some(Ok(frame))
                }
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_may_be_slow_only_within_its_grace() {
        let grace = Duration::from_secs(30);
        assert!(!too_slow(Duration::from_secs(29), 0, grace));
        // A byte a second: cut once past the grace and behind the rate.
        assert!(too_slow(Duration::from_secs(32), 32, grace));
        // A slow link, 10 KiB a second, keeps going.
        assert!(!too_slow(Duration::from_secs(600), 600 * 10_240, grace));
        // Exactly the rate since the grace ended is enough.
        assert!(!too_slow(
            Duration::from_secs(40),
            10 * MIN_BODY_RATE,
            grace
        ));
    }
}
