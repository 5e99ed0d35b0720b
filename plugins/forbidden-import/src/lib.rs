//! A routing application that imports `wasi:cli/environment@0.2.0` and calls it.
//!
//! Switchyard links only its own `switchyard:routing` interfaces, so the host must
//! refuse this component when it is loaded (a missing import), never instantiate it.
//! The routing half comes from switchyard-guest; wit-bindgen generates only the extra
//! import, and wit-component merges the two into one component world.

use switchyard_guest::{
    ConnectorContext, Conversation, Decision, InboundMessage, RoutingApplication,
};

mod wasi {
    wit_bindgen::generate!({
        world: "environment-reader",
        path: "wit",
        generate_all,
    });
}

use wasi::wasi::cli::environment::get_environment;

struct ForbiddenImport;

impl RoutingApplication for ForbiddenImport {
    fn route(
        _message: InboundMessage,
        _connector: ConnectorContext,
        _conversation: Conversation,
    ) -> Decision {
        let variables = get_environment();
        Decision::to_group("ok").user_data("environment_variables", variables.len().to_string())
    }
}

switchyard_guest::export_routing_application!(ForbiddenImport);
