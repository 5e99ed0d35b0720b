//! Read-only staffing of the ACD groups, so a router can avoid empty groups (WIT
//! interface `acd`).

use crate::__bindings::platform::acd as wit;

pub use wit::Staffing;

/// Staffing of the ACD group `group` at this moment, or `None` if there is no such group.
pub fn staffing(group: &str) -> Option<Staffing> {
    wit::availability(group)
}

impl Staffing {
    /// Whether at least one agent is Ready on the message's channel.
    pub fn has_ready_agents(&self) -> bool {
        self.ready_agents > 0
    }
}
