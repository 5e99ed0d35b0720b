//! What one client has been sent and has confirmed: the bookkeeping behind "in order,
//! nothing lost, nothing twice". Plain state changed by plain methods; the session
//! calls the feed with what they return.
//!
//! A client reads its agent's notifications after a cursor. Without the ack extension
//! a reply counts as received once it is handed to the transport, and the cursor moves
//! then. With it (`ext: {ack: true}` in the handshake) each connect reply carries a
//! batch id, and the cursor moves only when the client's next connect names that batch;
//! a connect naming an older batch means the reply was lost, so the next reply starts
//! from the cursor again and repeats it.

/// A reply sent but not yet confirmed (ack extension only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Batch {
    id: i64,
    /// The highest `seq` it carried, or the cursor when it carried nothing.
    through: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    ack_extension: bool,
    /// The highest `seq` the client has; `None` until it subscribes.
    cursor: Option<i64>,
    in_flight: Option<Batch>,
    /// The last batch id handed out; the JavaScript client starts from 0.
    last_batch: i64,
}

impl Outbox {
    pub fn new(ack_extension: bool) -> Self {
        Self {
            ack_extension,
            cursor: None,
            in_flight: None,
            last_batch: 0,
        }
    }

    /// The client subscribed: it starts after what the agent has acknowledged. A second
    /// subscribe keeps the cursor, so it neither repeats nor skips.
    pub fn subscribe(&mut self, acknowledged: i64) {
        if self.cursor.is_none() {
            self.cursor = Some(acknowledged);
        }
    }

    pub fn unsubscribe(&mut self) {
        self.cursor = None;
        self.in_flight = None;
    }

    #[cfg(test)]
    fn subscribed(&self) -> bool {
        self.cursor.is_some()
    }

    /// A connect arrived carrying `ack` (the ack extension's last batch received).
    /// Returns the `seq` to acknowledge in the feed if the client confirmed new ones.
    pub fn connected(&mut self, ack: Option<i64>) -> Option<i64> {
        let batch = self.in_flight.take()?;
        match (self.cursor, ack) {
            (Some(cursor), Some(ack)) if ack >= batch.id => {
                self.cursor = Some(cursor.max(batch.through));
                (batch.through > cursor).then_some(batch.through)
            }
            // Lost: the next read starts from the cursor and repeats the batch.
            _ => None,
        }
    }

    /// A reply prepared by [`Outbox::sending`] never reached the client (its socket
    /// closed first): read from `from` again. Only moves the cursor back.
    pub fn rewind(&mut self, from: i64) {
        if let Some(cursor) = self.cursor {
            self.cursor = Some(cursor.min(from));
        }
    }

    /// Whether a batch with notifications awaits the client's confirmation.
    pub fn unconfirmed(&self) -> bool {
        match (self.in_flight, self.cursor) {
            (Some(batch), Some(cursor)) => batch.through > cursor,
            _ => false,
        }
    }

    /// Where the next read of the feed starts, or `None` if the client is not
    /// subscribed (nothing to deliver).
    pub fn read_after(&self) -> Option<i64> {
        self.cursor
    }

    /// A connect reply carrying notifications up to `through` (`None`: none) is being
    /// handed to the transport. Returns the batch id for the reply's `ext.ack` (ack
    /// extension) and the `seq` to acknowledge now (without it).
    pub fn sending(&mut self, through: Option<i64>) -> Sending {
        if self.ack_extension {
            self.last_batch += 1;
            if let Some(cursor) = self.cursor {
                self.in_flight = Some(Batch {
                    id: self.last_batch,
                    through: through.unwrap_or(cursor).max(cursor),
                });
            }
            return Sending {
                batch: Some(self.last_batch),
                acknowledge: None,
            };
        }
        let acknowledge = match (self.cursor, through) {
            (Some(cursor), Some(through)) if through > cursor => {
                self.cursor = Some(through);
                Some(through)
            }
            _ => None,
        };
        Sending {
            batch: None,
            acknowledge,
        }
    }
}

/// What [`Outbox::sending`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    pub batch: Option<i64>,
    pub acknowledge: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_extension_a_reply_handed_over_moves_the_cursor() {
        let mut outbox = Outbox::new(false);
        assert_eq!(outbox.read_after(), None, "nothing before subscribing");
        outbox.subscribe(4);
        assert_eq!(outbox.read_after(), Some(4));
        assert_eq!(outbox.connected(None), None);
        let sent = outbox.sending(Some(7));
        assert_eq!(
            sent,
            Sending {
                batch: None,
                acknowledge: Some(7)
            }
        );
        assert_eq!(outbox.read_after(), Some(7));
        assert_eq!(
            outbox.sending(None).acknowledge,
            None,
            "an empty reply acknowledges nothing"
        );
    }

    #[test]
    fn with_the_extension_the_next_connect_confirms_the_batch() {
        let mut outbox = Outbox::new(true);
        outbox.subscribe(0);
        assert_eq!(outbox.connected(Some(0)), None);
        let first = outbox.sending(Some(3));
        assert_eq!(
            first,
            Sending {
                batch: Some(1),
                acknowledge: None
            }
        );
        assert_eq!(outbox.read_after(), Some(0), "not confirmed yet");
        assert_eq!(outbox.connected(Some(1)), Some(3));
        assert_eq!(outbox.read_after(), Some(3));
        let empty = outbox.sending(None);
        assert_eq!(empty.batch, Some(2));
        assert_eq!(
            outbox.connected(Some(2)),
            None,
            "an empty batch moves nothing"
        );
        assert_eq!(outbox.read_after(), Some(3));
    }

    #[test]
    fn a_batch_the_client_did_not_get_is_read_again() {
        let mut outbox = Outbox::new(true);
        outbox.subscribe(10);
        outbox.connected(Some(0));
        assert_eq!(outbox.sending(Some(12)).batch, Some(1));
        // The reply was lost: the client's next connect still names batch 0.
        assert_eq!(outbox.connected(Some(0)), None);
        assert_eq!(outbox.read_after(), Some(10), "12 and below are sent again");
        assert_eq!(outbox.sending(Some(13)).batch, Some(2));
        assert_eq!(outbox.connected(Some(2)), Some(13));
        assert_eq!(outbox.read_after(), Some(13));
    }

    #[test]
    fn a_connect_without_an_ack_confirms_nothing() {
        let mut outbox = Outbox::new(true);
        outbox.subscribe(0);
        outbox.sending(Some(5));
        assert_eq!(outbox.connected(None), None);
        assert_eq!(outbox.read_after(), Some(0));
    }

    #[test]
    fn subscribing_again_keeps_the_cursor_and_unsubscribing_forgets_it() {
        let mut outbox = Outbox::new(false);
        outbox.subscribe(2);
        outbox.sending(Some(5));
        outbox.subscribe(2);
        assert_eq!(outbox.read_after(), Some(5));
        outbox.unsubscribe();
        assert!(!outbox.subscribed());
        outbox.subscribe(5);
        assert_eq!(outbox.read_after(), Some(5));
    }
}
