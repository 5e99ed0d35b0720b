//! The only place that runs `bindgen!`: host bindings for the three plugin worlds.
//!
//! The routing-application world generates the shared interfaces (types and the five
//! host imports); the other worlds reuse them through `with`, so one host
//! implementation and one set of types serve every kind of plugin.
//!
//! The kv and acd imports are async host functions: a plugin reading its kv store
//! waits on the embedder's backend (a database, on the server) without holding a
//! thread, so every export is called asynchronously.

mod routing_application {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "routing-application",
        imports: {
            "switchyard:routing/kv": async | trappable,
            "switchyard:routing/acd": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

mod external_system {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "external-system",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "switchyard:routing/types": super::routing_application::switchyard::routing::types,
            "switchyard:routing/log": super::routing_application::switchyard::routing::log,
            "switchyard:routing/kv": super::routing_application::switchyard::routing::kv,
            "switchyard:routing/config": super::routing_application::switchyard::routing::config,
            "switchyard:routing/clock": super::routing_application::switchyard::routing::clock,
            "switchyard:routing/acd": super::routing_application::switchyard::routing::acd,
        },
    });
}

mod gateway {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "gateway",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "switchyard:routing/types": super::routing_application::switchyard::routing::types,
            "switchyard:routing/log": super::routing_application::switchyard::routing::log,
            "switchyard:routing/kv": super::routing_application::switchyard::routing::kv,
            "switchyard:routing/config": super::routing_application::switchyard::routing::config,
            "switchyard:routing/clock": super::routing_application::switchyard::routing::clock,
            "switchyard:routing/acd": super::routing_application::switchyard::routing::acd,
        },
    });
}

pub(crate) use external_system::ExternalSystemPre;
pub(crate) use gateway::GatewayPre;
pub(crate) use routing_application::RoutingApplicationPre;
pub(crate) use routing_application::switchyard::routing::{acd, clock, config, kv, log, types};

/// The WIT types plugins speak. The embedder converts its own types to and from these
/// at its edge; nothing of the embedder's domain reaches the runtime.
pub mod wit {
    pub use super::types::*;
}
