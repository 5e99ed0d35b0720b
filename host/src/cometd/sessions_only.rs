//! A [`Feed`] that knows the agents' sessions and nothing else: it authenticates
//! tokens, has no notifications, and forgets acknowledgements and presence. It lets
//! `/cometd` serve handshakes and subscriptions until the store-backed feed of the
//! agents' notifications is wired in its place.

use super::feed::{Feed, Notification};
use crate::domain::agents::sessions::digest;
use crate::store::{Store, StoreError, now_ms};

#[derive(Clone)]
pub struct SessionsOnly {
    store: Store,
}

impl SessionsOnly {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Feed for SessionsOnly {
    async fn authenticate(&self, token: &str) -> Result<Option<i64>, StoreError> {
        self.store.session_agent(&digest(token), now_ms()).await
    }

    async fn read(&self, _: i64, _: i64, _: usize) -> Result<Vec<Notification>, StoreError> {
        Ok(Vec::new())
    }

    async fn acknowledged(&self, _: i64) -> Result<i64, StoreError> {
        Ok(0)
    }

    async fn acknowledge(&self, _: i64, _: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn seen(&self, _: i64) -> Result<(), StoreError> {
        Ok(())
    }
}
