//! Finding the connector of an inbound SMS by its recipient number, or of an inbound
//! email by its recipient address, on every post.
//!
//! Looked up from the database at most once per [`TTL`] per number: a busy gateway
//! posts thousands of messages a second to a handful of numbers, and the token check
//! needs the connector each time. Changes made through this node's admin API clear
//! the cache at once; other nodes sharing a PostgreSQL database see them within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::channel::Channel;
use crate::domain::connectors::SmsConnector;
use crate::domain::connectors::inbound::TokenGate;
use crate::store::{Store, StoreError};

pub const TTL: Duration = Duration::from_secs(1);
/// Unknown numbers are cached too (so probing them costs no queries), but anyone can
/// post any number: past this many entries the cache starts over.
const MAX_ENTRIES: usize = 10_000;

type Entry = (Instant, Option<Arc<SmsConnector>>);
type CachedGate = Option<(Instant, Arc<TokenGate>)>;

#[derive(Clone)]
pub struct Directory {
    store: Store,
    entries: Arc<RwLock<HashMap<String, Entry>>>,
    /// What a post must show before its body is read, cached as the entries are: SMS
    /// connectors' tokens, then email connectors'.
    gate: Arc<RwLock<CachedGate>>,
    email_gate: Arc<RwLock<CachedGate>>,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Arc::default(),
            gate: Arc::default(),
            email_gate: Arc::default(),
        }
    }

    /// The gate of every SMS connector's tokens, checked before a post's body is read.
    pub async fn gate(&self) -> Result<Arc<TokenGate>, StoreError> {
        self.gate_of(Channel::Sms, &self.gate).await
    }

    /// The gate of every email connector's tokens.
    pub async fn email_gate(&self) -> Result<Arc<TokenGate>, StoreError> {
        self.gate_of(Channel::Email, &self.email_gate).await
    }

    async fn gate_of(
        &self,
        channel: Channel,
        cache: &RwLock<CachedGate>,
    ) -> Result<Arc<TokenGate>, StoreError> {
        if let Some((at, gate)) = cache.read().expect("directory").as_ref()
            && at.elapsed() < TTL
        {
            return Ok(gate.clone());
        }
        let connectors = self.store.list_connectors(channel).await?;
        let gate = Arc::new(TokenGate::new(&connectors));
        *cache.write().expect("directory") = Some((Instant::now(), gate.clone()));
        Ok(gate)
    }

    /// The connector whose recipient is `recipient` (E.164), if any.
    pub async fn by_recipient(
        &self,
        recipient: &str,
    ) -> Result<Option<Arc<SmsConnector>>, StoreError> {
        self.cached(recipient, self.store.connector_for(recipient))
            .await
    }

    /// The email connector that receives for `address` (lower-cased), if any. Numbers
    /// and addresses never look alike, so they share the cache.
    pub async fn by_address(&self, address: &str) -> Result<Option<Arc<SmsConnector>>, StoreError> {
        self.cached(address, self.store.email_connector_for(address))
            .await
    }

    async fn cached(
        &self,
        key: &str,
        lookup: impl Future<Output = Result<Option<SmsConnector>, StoreError>>,
    ) -> Result<Option<Arc<SmsConnector>>, StoreError> {
        if let Some((at, connector)) = self.entries.read().expect("directory").get(key)
            && at.elapsed() < TTL
        {
            return Ok(connector.clone());
        }
        let connector = lookup.await?.map(Arc::new);
        let mut entries = self.entries.write().expect("directory");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), connector.clone()));
        Ok(connector)
    }

    /// Forgets everything: called after any change to connectors.
    pub fn invalidate(&self) {
        self.entries.write().expect("directory").clear();
        *self.gate.write().expect("directory") = None;
        *self.email_gate.write().expect("directory") = None;
    }
}
