//! One handshaken client: whose it is, what it has been sent, which connect of it is
//! current, and when it was last heard from. Sessions live in memory on the node that
//! handshook them; a client that reaches another node (or this one restarted) gets
//! `402` and handshakes again, starting from what its agent acknowledged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::outbox::{Outbox, Sending};

/// How a client reaches the server; a label of the sessions gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    LongPolling,
    WebSocket,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::LongPolling => "long-polling",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Why a session ended; what a connect held at that moment answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client said `/meta/disconnect`.
    Disconnected,
    /// The token stopped working (logged out, expired).
    Unauthorized,
    /// The client stopped connecting.
    Swept,
}

pub struct Session {
    pub client_id: String,
    pub agent: i64,
    /// Kept to check again on connects: a logout must end the push too.
    pub token: String,
    state: Mutex<State>,
    /// Bumped on anything a held connect must look at: a subscription, a newer
    /// connect, the end of the session.
    events: watch::Sender<u64>,
}

struct State {
    outbox: Outbox,
    transport: Transport,
    /// The newest connect's number; an older one still held gives way to it.
    connect: u64,
    holding: bool,
    last_contact: Instant,
    last_auth: Instant,
    last_seen: Instant,
    ended: Option<End>,
}

/// What [`Session::sending`] hands the transport, to confirm once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handed {
    pub sending: Sending,
    /// The cursor before, to go back to if the write fails.
    pub from: Option<i64>,
}

impl Session {
    /// A session just handshaken over `transport`, its token checked and the agent
    /// just marked as seen.
    pub fn new(agent: i64, token: String, ack_extension: bool, transport: Transport) -> Self {
        let now = Instant::now();
        Self {
            client_id: super::protocol::new_client_id(),
            agent,
            token,
            state: Mutex::new(State {
                outbox: Outbox::new(ack_extension),
                transport,
                connect: 0,
                holding: false,
                last_contact: now,
                last_auth: now,
                last_seen: now,
                ended: None,
            }),
            events: watch::channel(0).0,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes on the session's next event.
    pub fn events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    pub fn transport(&self) -> Transport {
        self.state().transport
    }

    /// A connect arrived over `transport`: it becomes the current one (an older one
    /// still held is answered now). Returns its number, whether it is the client's
    /// first, the transport it came from before, and the `seq` its `ack` confirms.
    pub fn connect(&self, transport: Transport, ack: Option<i64>) -> Connect {
        let mut state = self.state();
        state.connect += 1;
        state.holding = true;
        state.last_contact = Instant::now();
        let previous = std::mem::replace(&mut state.transport, transport);
        let confirmed = state.outbox.connected(ack);
        let connect = Connect {
            number: state.connect,
            first: state.connect == 1,
            previous,
            confirmed,
        };
        drop(state);
        self.bump();
        connect
    }

    /// Whether connect `number` has given way to a newer one.
    pub fn superseded(&self, number: u64) -> bool {
        self.state().connect != number
    }

    pub fn ended(&self) -> Option<End> {
        self.state().ended
    }

    /// Ends the session; a held connect answers at once.
    pub fn end(&self, why: End) {
        let mut state = self.state();
        if state.ended.is_none() {
            state.ended = Some(why);
        }
        drop(state);
        self.bump();
    }

    /// Subscribes to the agent's notifications after `acknowledged`.
    pub fn subscribe(&self, acknowledged: i64) {
        self.state().outbox.subscribe(acknowledged);
        self.bump();
    }

    pub fn unsubscribe(&self) {
        self.state().outbox.unsubscribe();
    }

    /// Where the next read of the feed starts; `None`: not subscribed.
    pub fn read_after(&self) -> Option<i64> {
        self.state().outbox.read_after()
    }

    /// Connect `number` is answered with notifications up to `through`; `None` if a
    /// newer connect took over meanwhile (that one delivers them instead).
    pub fn sending(&self, number: u64, through: Option<i64>) -> Option<Handed> {
        let mut state = self.state();
        if state.connect != number {
            return None;
        }
        state.holding = false;
        state.last_contact = Instant::now();
        let from = state.outbox.read_after();
        Some(Handed {
            sending: state.outbox.sending(through),
            from,
        })
    }

    /// The reply [`Session::sending`] prepared was not written: deliver it again.
    pub fn unwritten(&self, handed: Handed) {
        if let Some(from) = handed.from {
            self.state().outbox.rewind(from);
        }
    }

    /// Connect `number` ends without a reply to record (superseded, session ended).
    pub fn left(&self, number: u64) {
        let mut state = self.state();
        if state.connect == number {
            state.holding = false;
            state.last_contact = Instant::now();
        }
    }

    /// Whether the client was sent notifications it has not confirmed yet (ack
    /// extension).
    pub fn unconfirmed(&self) -> bool {
        self.state().outbox.unconfirmed()
    }

    /// Whether the token is due for another check (it is cached for `every`).
    pub fn auth_due(&self, every: Duration) -> bool {
        self.state().last_auth.elapsed() >= every
    }

    pub fn authenticated(&self) {
        self.state().last_auth = Instant::now();
    }

    /// Whether the agent should be marked as seen again; if so, counts it as done.
    pub fn presence_due(&self, every: Duration) -> bool {
        let mut state = self.state();
        if state.last_seen.elapsed() >= every {
            state.last_seen = Instant::now();
            true
        } else {
            false
        }
    }

    /// Whether the client stopped connecting: no connect held, and none for `silence`.
    pub fn gone(&self, silence: Duration) -> bool {
        let state = self.state();
        state.ended.is_some() || (!state.holding && state.last_contact.elapsed() >= silence)
    }
}

/// What [`Session::connect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect {
    pub number: u64,
    pub first: bool,
    pub previous: Transport,
    pub confirmed: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_connect_supersedes_the_held_one() {
        let session = Session::new(1, "t".into(), false, Transport::LongPolling);
        let first = session.connect(Transport::LongPolling, None);
        assert!(first.first);
        let second = session.connect(Transport::WebSocket, None);
        assert!(!second.first);
        assert_eq!(second.previous, Transport::LongPolling);
        assert!(session.superseded(first.number));
        assert_eq!(session.sending(first.number, Some(3)), None);
        assert!(session.sending(second.number, None).is_some());
        assert_eq!(session.transport(), Transport::WebSocket);
    }

    #[test]
    fn an_unwritten_reply_is_delivered_again() {
        let session = Session::new(1, "t".into(), false, Transport::WebSocket);
        session.subscribe(2);
        let connect = session.connect(Transport::WebSocket, None);
        let handed = session.sending(connect.number, Some(5)).unwrap();
        assert_eq!(handed.sending.acknowledge, Some(5));
        assert_eq!(session.read_after(), Some(5));
        session.unwritten(handed);
        assert_eq!(session.read_after(), Some(2));
    }

    #[test]
    fn a_client_is_gone_when_it_stops_connecting_or_ends() {
        let session = Session::new(1, "t".into(), false, Transport::LongPolling);
        assert!(!session.gone(Duration::from_secs(60)));
        assert!(
            session.gone(Duration::ZERO),
            "handshaken and never connected"
        );
        let connect = session.connect(Transport::LongPolling, None);
        assert!(!session.gone(Duration::ZERO), "a held connect is alive");
        session.left(connect.number);
        assert!(session.gone(Duration::ZERO));
        session.end(End::Disconnected);
        assert!(session.gone(Duration::from_secs(60)));
        assert_eq!(session.ended(), Some(End::Disconnected));
    }

    #[test]
    fn presence_is_due_once_per_interval() {
        let session = Session::new(1, "t".into(), false, Transport::LongPolling);
        assert!(
            !session.presence_due(Duration::from_secs(5)),
            "just seen at handshake"
        );
        assert!(session.presence_due(Duration::ZERO));
    }
}
