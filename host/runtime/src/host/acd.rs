//! `switchyard:routing/acd`: a read-only view of ACD groups' staffing.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::HostContext;
use crate::bindings::acd;

/// Staffing of one ACD group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupStaffing {
    pub ready_agents: u32,
    pub queue_depth: u32,
}

/// Where the host looks up staffing; the server answers from its agents and queues.
pub trait Staffing: Send + Sync {
    /// None when no group has this name. Asynchronous, like [`super::KvStore::get`].
    fn staffing<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Option<GroupStaffing>>;
}

/// No groups at all.
pub struct NoStaffing;

impl Staffing for NoStaffing {
    fn staffing<'a>(&'a self, _group: &'a str) -> BoxFuture<'a, Option<GroupStaffing>> {
        Box::pin(async { None })
    }
}

/// A fixed table, for `switchyard plugin run --staffing` and tests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StaffingTable(pub HashMap<String, GroupStaffing>);

impl Staffing for StaffingTable {
    fn staffing<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Option<GroupStaffing>> {
        let found = self.0.get(group).copied();
        Box::pin(async move { found })
    }
}

impl acd::Host for HostContext {
    async fn availability(&mut self, group: String) -> wasmtime::Result<Option<acd::Staffing>> {
        Ok(self
            .env
            .staffing
            .staffing(&group)
            .await
            .map(|s| acd::Staffing {
                ready_agents: s.ready_agents,
                queue_depth: s.queue_depth,
            }))
    }
}
