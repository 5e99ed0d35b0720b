//! One trait per entry-point world, and the macros that export an implementation.
//!
//! The host instantiates a plugin afresh for every call, so the trait functions take no
//! `self`: there is no state to keep between calls except what the plugin writes to
//! [`kv`](crate::kv). A plugin implements its world's trait on a unit struct and names
//! that struct in the matching `export_…!` macro.

use crate::__bindings::{external, gateway, routing};
use crate::{
    ConnectorContext, Conversation, Decision, HttpRequest, HttpResponse, InboundMessage,
    ProcessError, ProcessOutcome, QueueEntry, SendResult,
};

/// A routing application, attached to a receive connector (WIT world
/// `routing-application`). Export it with [`export_routing_application!`](crate::export_routing_application).
pub trait RoutingApplication {
    /// Decide where `message` goes. `conversation` is the sender's conversation as it
    /// was before this message arrived.
    fn route(
        message: InboundMessage,
        connector: ConnectorContext,
        conversation: Conversation,
    ) -> Decision;
}

/// An external system that settles communication-queue entries, such as a
/// conditional-access system (WIT world `external-system`). Export it with
/// [`export_external_system!`](crate::export_external_system).
pub trait ExternalSystem {
    /// Process one pending entry: complete it, or reject it with a code and description.
    fn process(entry: QueueEntry) -> ProcessOutcome;
}

/// An outbound gateway adapter (WIT world `gateway`): it turns an entry into an HTTP
/// request and reads the answer; the host performs the request. Export it with
/// [`export_gateway!`](crate::export_gateway).
pub trait Gateway {
    /// The HTTP request that sends `entry` through this gateway.
    fn build_request(entry: QueueEntry) -> Result<HttpRequest, ProcessError>;

    /// Interpret the gateway's response to the request built for `entry`.
    fn parse_response(entry: QueueEntry, response: HttpResponse) -> SendResult;
}

// The generated `Guest` traits are implemented for every implementor of the friendly
// traits, so the export macros can hand the plugin's own type to wit-bindgen's glue.

impl<T: RoutingApplication> routing::Guest for T {
    fn route(
        message: InboundMessage,
        connector: ConnectorContext,
        conversation: Conversation,
    ) -> Decision {
        <T as RoutingApplication>::route(message, connector, conversation)
    }
}

impl<T: ExternalSystem> external::Guest for T {
    fn process(entry: QueueEntry) -> ProcessOutcome {
        <T as ExternalSystem>::process(entry)
    }
}

impl<T: Gateway> gateway::Guest for T {
    fn build_request(entry: QueueEntry) -> Result<HttpRequest, ProcessError> {
        <T as Gateway>::build_request(entry)
    }

    fn parse_response(entry: QueueEntry, response: HttpResponse) -> SendResult {
        <T as Gateway>::parse_response(entry, response)
    }
}

/// Export a [`RoutingApplication`] as this component's `route` function.
///
/// Use it once, at the top level of the plugin crate: `export_routing_application!(MyRouter);`
#[macro_export]
macro_rules! export_routing_application {
    ($ty:ident) => {
        $crate::__bindings::routing::export!($ty with_types_in $crate::__bindings::routing);
    };
}

/// Export an [`ExternalSystem`] as this component's `process` function.
///
/// Use it once, at the top level of the plugin crate: `export_external_system!(MyProcessor);`
#[macro_export]
macro_rules! export_external_system {
    ($ty:ident) => {
        $crate::__bindings::external::export!($ty with_types_in $crate::__bindings::external);
    };
}

/// Export a [`Gateway`] as this component's `build-request` and `parse-response`.
///
/// Use it once, at the top level of the plugin crate: `export_gateway!(MyGateway);`
#[macro_export]
macro_rules! export_gateway {
    ($ty:ident) => {
        $crate::__bindings::gateway::export!($ty with_types_in $crate::__bindings::gateway);
    };
}
