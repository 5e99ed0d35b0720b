//! Which routing batch runs next, so that one connector's slow plugin never holds up
//! another's messages. Messages wait per connector, in arrival order. A connector has
//! at most one batch routing at a time: its messages keep their order, and each batch
//! sees the kv writes of the one before. Connectors take turns (round robin), so under
//! contention each gets an equal share of batches. Two batches never route messages of
//! the same sender at once, so a contact writing on two connectors is routed in
//! arrival order. Conversations no longer need it: they are per connector, and a
//! connector routes one batch at a time (which also covers an email joining another
//! contact's thread on the same connector). A message is held here once: handed over
//! again (by the scanner, say) while it waits or routes, it is ignored.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::domain::routing::outcome::PendingMessage;

/// Whose turn it is: a connector, or `None` for messages whose connector is gone.
type Lane = Option<i64>;

/// A batch taken to route; given back with [`Lanes::finished`].
#[derive(Debug)]
pub struct Ticket {
    lane: Lane,
    ids: Vec<i64>,
    contacts: Vec<String>,
}

impl Ticket {
    pub fn connector(&self) -> Option<i64> {
        self.lane
    }
}

/// The messages waiting or routing on this node.
#[derive(Debug, Default)]
pub struct Lanes {
    waiting: HashMap<Lane, VecDeque<PendingMessage>>,
    /// Lanes with waiting messages, in turn order.
    turns: VecDeque<Lane>,
    /// Lanes with a batch routing.
    busy: HashSet<Lane>,
    /// Contacts of the batches routing, with how many batches hold each.
    contacts: HashMap<String, usize>,
    /// Every message waiting or routing.
    held: HashSet<i64>,
    waiting_count: usize,
}

impl Lanes {
    /// Queues `message` behind its connector's; `false` if it is already held here.
    pub fn push(&mut self, message: PendingMessage) -> bool {
        if !self.held.insert(message.id) {
            return false;
        }
        let lane = message.connector_id;
        let queue = self.waiting.entry(lane).or_default();
        if queue.is_empty() {
            self.turns.push_back(lane);
        }
        queue.push_back(message);
        self.waiting_count += 1;
        true
    }

    /// The next batch to route, of at most `max` messages: from the first connector in
    /// turn order that has none routing and whose oldest waiting message's contact is in
    /// no routing batch. The batch ends before the first message whose contact is.
    pub fn next_batch(&mut self, max: usize) -> Option<(Ticket, Vec<PendingMessage>)> {
        let position = self.turns.iter().position(|lane| {
            !self.busy.contains(lane)
                && self.waiting[lane]
                    .front()
                    .is_some_and(|m| !self.contacts.contains_key(&m.sender))
        })?;
        let lane = self.turns.remove(position).expect("a position in range");
        let queue = self
            .waiting
            .get_mut(&lane)
            .expect("turns name waiting lanes");
        let mut messages = Vec::new();
        while messages.len() < max
            && let Some(next) = queue.front()
            && !self.contacts.contains_key(&next.sender)
        {
            messages.push(queue.pop_front().expect("a front"));
        }
        if queue.is_empty() {
            self.waiting.remove(&lane);
        } else {
            // Its turn is over: to the back of the line.
            self.turns.push_back(lane);
        }
        self.waiting_count -= messages.len();
        let mut contacts: Vec<String> = messages.iter().map(|m| m.sender.clone()).collect();
        contacts.sort_unstable();
        contacts.dedup();
        for contact in &contacts {
            *self.contacts.entry(contact.clone()).or_default() += 1;
        }
        self.busy.insert(lane);
        let ticket = Ticket {
            lane,
            ids: messages.iter().map(|m| m.id).collect(),
            contacts,
        };
        Some((ticket, messages))
    }

    /// A batch is done (routed, or failed and left to the scanner): its connector and
    /// contacts are free, and its messages are no longer held here.
    pub fn finished(&mut self, ticket: Ticket) {
        self.busy.remove(&ticket.lane);
        for contact in ticket.contacts {
            if let Some(count) = self.contacts.get_mut(&contact) {
                *count -= 1;
                if *count == 0 {
                    self.contacts.remove(&contact);
                }
            }
        }
        for id in ticket.ids {
            self.held.remove(&id);
        }
    }

    /// Messages waiting for a batch.
    pub fn waiting(&self) -> usize {
        self.waiting_count
    }

    /// Batches routing.
    pub fn running(&self) -> usize {
        self.busy.len()
    }

    /// Every message waiting or routing here, whose leases this node keeps.
    pub fn held(&self) -> Vec<i64> {
        self.held.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, connector: i64, sender: &str) -> PendingMessage {
        PendingMessage {
            id,
            connector_id: Some(connector),
            channel: crate::domain::channel::Channel::Sms,
            gateway_message_id: format!("g-{id}"),
            sender: sender.to_owned(),
            recipient: "+4930123456".to_owned(),
            body: "hello".to_owned(),
            received_at: 0,
            subject: None,
            attributes: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn ids(batch: &[PendingMessage]) -> Vec<i64> {
        batch.iter().map(|m| m.id).collect()
    }

    #[test]
    fn a_slow_connector_does_not_hold_up_another() {
        let mut lanes = Lanes::default();
        for id in 1..=5 {
            lanes.push(message(id, 1, &format!("+49{id}")));
        }
        lanes.push(message(6, 2, "+496"));
        let (slow, batch) = lanes.next_batch(2).unwrap();
        assert_eq!(ids(&batch), [1, 2]);
        // Connector 1 is routing: connector 2 goes next, whatever waits behind 1.
        let (_, batch) = lanes.next_batch(2).unwrap();
        assert_eq!(ids(&batch), [6]);
        assert!(
            lanes.next_batch(2).is_none(),
            "one batch per connector at a time"
        );
        lanes.finished(slow);
        let (_, batch) = lanes.next_batch(2).unwrap();
        assert_eq!(ids(&batch), [3, 4], "in arrival order");
    }

    #[test]
    fn connectors_take_turns() {
        let mut lanes = Lanes::default();
        for id in 1..=4 {
            lanes.push(message(id, 1, &format!("+49{id}")));
            lanes.push(message(10 + id, 2, &format!("+491{id}")));
        }
        let mut order = Vec::new();
        while let Some((ticket, batch)) = lanes.next_batch(1) {
            order.push(batch[0].connector_id.unwrap());
            lanes.finished(ticket);
        }
        assert_eq!(order, [1, 2, 1, 2, 1, 2, 1, 2]);
    }

    #[test]
    fn a_contact_is_routed_by_one_batch_at_a_time() {
        let mut lanes = Lanes::default();
        lanes.push(message(1, 1, "+491"));
        lanes.push(message(2, 2, "+491"));
        lanes.push(message(3, 2, "+492"));
        let (first, _) = lanes.next_batch(10).unwrap();
        assert!(
            lanes.next_batch(10).is_none(),
            "connector 2's oldest message is of a contact being routed"
        );
        lanes.finished(first);
        let (_, batch) = lanes.next_batch(10).unwrap();
        assert_eq!(ids(&batch), [2, 3]);
    }

    #[test]
    fn a_batch_stops_before_a_contact_being_routed() {
        let mut lanes = Lanes::default();
        lanes.push(message(1, 1, "+491"));
        lanes.push(message(2, 2, "+492"));
        lanes.push(message(3, 2, "+491"));
        lanes.push(message(4, 2, "+493"));
        let (_, _) = lanes.next_batch(10).unwrap();
        let (_, batch) = lanes.next_batch(10).unwrap();
        assert_eq!(
            ids(&batch),
            [2],
            "message 3 waits: its contact is being routed"
        );
        assert_eq!(lanes.waiting(), 2);
    }

    #[test]
    fn a_message_handed_over_twice_is_held_once() {
        let mut lanes = Lanes::default();
        assert!(lanes.push(message(1, 1, "+491")));
        assert!(!lanes.push(message(1, 1, "+491")), "while waiting");
        let (ticket, _) = lanes.next_batch(10).unwrap();
        assert!(!lanes.push(message(1, 1, "+491")), "while routing");
        assert_eq!(lanes.held(), [1]);
        lanes.finished(ticket);
        assert!(lanes.held().is_empty());
        assert_eq!(lanes.running(), 0);
    }
}
