//! Finding the connector of an inbound SMS by its recipient number, on every post.
//!
//! Looked up from the database at most once per [`TTL`] per number: a busy gateway
//! posts thousands of messages a second to a handful of numbers, and the token check
//! needs the connector each time. Changes made through this node's admin API clear
//! the cache at once; other nodes sharing a PostgreSQL database see them within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::connectors::SmsConnector;
use crate::store::{Store, StoreError};

pub const TTL: Duration = Duration::from_secs(1);
/// Unknown numbers are cached too (so probing them costs no queries), but anyone can
/// post any number: past this many entries the cache starts over.
const MAX_ENTRIES: usize = 10_000;

type Entry = (Instant, Option<Arc<SmsConnector>>);

#[derive(Clone)]
pub struct Directory {
    store: Store,
    entries: Arc<RwLock<HashMap<String, Entry>>>,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Arc::default(),
        }
    }

    /// The connector whose recipient is `recipient` (E.164), if any.
    pub async fn by_recipient(
        &self,
        recipient: &str,
    ) -> Result<Option<Arc<SmsConnector>>, StoreError> {
        if let Some((at, connector)) = self.entries.read().expect("directory").get(recipient)
            && at.elapsed() < TTL
        {
            return Ok(connector.clone());
        }
        let connector = self.store.sms_connector_for(recipient).await?.map(Arc::new);
        let mut entries = self.entries.write().expect("directory");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(recipient.to_owned(), (Instant::now(), connector.clone()));
        Ok(connector)
    }

    /// Forgets everything: called after any change to connectors.
    pub fn invalidate(&self) {
        self.entries.write().expect("directory").clear();
    }
}
