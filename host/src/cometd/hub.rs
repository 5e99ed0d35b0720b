//! Wake-ups: "agent N has new notifications". Whoever stores a notification (or hears
//! of one stored by another node) calls [`Hub::wake`]; every held connect of that
//! agent then reads the feed. A wake carries no data, so a lost or repeated one costs
//! at most a read: held connects also re-read the feed every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Cheap to clone; one per server.
#[derive(Clone, Default)]
pub struct Hub {
    /// A counter per agent with someone waiting: `watch` remembers that it changed,
    /// so a wake between a waiter's read of the feed and its wait is not lost.
    agents: Arc<Mutex<HashMap<i64, watch::Sender<u64>>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes whoever waits for `agent`'s notifications; nobody waiting costs nothing.
    pub fn wake(&self, agent: i64) {
        let agents = self.agents.lock().expect("hub lock");
        if let Some(sender) = agents.get(&agent) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A receiver that changes on the next [`Hub::wake`] of `agent`. Take it before
    /// reading the feed, then wait on `changed()`.
    pub fn watch(&self, agent: i64) -> watch::Receiver<u64> {
        let mut agents = self.agents.lock().expect("hub lock");
        agents
            .entry(agent)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Forgets agents nobody waits for any more.
    pub fn prune(&self) {
        let mut agents = self.agents.lock().expect("hub lock");
        agents.retain(|_, sender| sender.receiver_count() > 0);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.agents.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wake_reaches_a_waiter_of_that_agent_only() {
        let hub = Hub::new();
        let mut one = hub.watch(1);
        let two = hub.watch(2);
        hub.wake(1);
        tokio::time::timeout(Duration::from_secs(1), one.changed())
            .await
            .expect("woken")
            .unwrap();
        assert!(!two.has_changed().unwrap());
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let hub = Hub::new();
        let mut waiter = hub.watch(7);
        hub.wake(7);
        tokio::time::timeout(Duration::from_secs(1), waiter.changed())
            .await
            .expect("the earlier wake counts")
            .unwrap();
    }

    #[test]
    fn agents_without_waiters_are_pruned() {
        let hub = Hub::new();
        let kept = hub.watch(1);
        drop(hub.watch(2));
        hub.wake(3);
        hub.prune();
        assert_eq!(hub.len(), 1);
        drop(kept);
        hub.prune();
        assert_eq!(hub.len(), 0);
    }
}
