//! The code wit-bindgen generates from `wit/`, kept out of the public API.
//!
//! The shared imports and every type of `switchyard:routing/types` are generated once,
//! in [`platform`], from a small inline world that pulls in both. Each entry-point world
//! then generates only its export glue and maps every shared interface onto
//! [`platform`] with `with`, so a plugin sees one `Decision` or `QueueEntry` type no
//! matter which world it implements.
//!
//! Generating a world with exports leaves a "with all of its exports removed" copy of
//! its type information in this library; the full one (with the export) is written by
//! the export macro into the plugin that uses it. wit-component merges them, so a
//! plugin's component exports only its own world's functions; the other worlds add no
//! more than a few type names. Imports a plugin never calls are dropped from its
//! component too.
//!
//! This module is public only because the export macros expand in the plugin's crate;
//! nothing in it is part of the supported API.
#![allow(clippy::all)]

/// The `platform` world's imports and all shared types.
pub mod platform {
    wit_bindgen::generate!({
        inline: "
            package switchyard:guest-sdk;

            world platform-and-types {
                include switchyard:routing/platform@0.1.1;
                import switchyard:routing/types@0.1.1;
            }
        ",
        path: "../wit",
        generate_all,
        generate_unused_types: true,
        // Plugin tests compare whole decisions.
        additional_derives: [PartialEq, Eq],
    });

    pub use self::switchyard::routing::{acd, clock, config, kv, log, types};
}

/// Export glue for `routing-application`.
pub mod routing {
    wit_bindgen::generate!({
        world: "switchyard:routing/routing-application@0.1.1",
        path: "../wit",
        with: {
            "switchyard:routing/types@0.1.1": crate::__bindings::platform::types,
            "switchyard:routing/log@0.1.1": crate::__bindings::platform::log,
            "switchyard:routing/kv@0.1.1": crate::__bindings::platform::kv,
            "switchyard:routing/config@0.1.1": crate::__bindings::platform::config,
            "switchyard:routing/clock@0.1.1": crate::__bindings::platform::clock,
            "switchyard:routing/acd@0.1.1": crate::__bindings::platform::acd,
        },
        pub_export_macro: true,
    });
}

/// Export glue for `external-system`.
pub mod external {
    wit_bindgen::generate!({
        world: "switchyard:routing/external-system@0.1.1",
        path: "../wit",
        with: {
            "switchyard:routing/types@0.1.1": crate::__bindings::platform::types,
            "switchyard:routing/log@0.1.1": crate::__bindings::platform::log,
            "switchyard:routing/kv@0.1.1": crate::__bindings::platform::kv,
            "switchyard:routing/config@0.1.1": crate::__bindings::platform::config,
            "switchyard:routing/clock@0.1.1": crate::__bindings::platform::clock,
            "switchyard:routing/acd@0.1.1": crate::__bindings::platform::acd,
        },
        pub_export_macro: true,
    });
}

/// Export glue for `gateway`.
pub mod gateway {
    wit_bindgen::generate!({
        world: "switchyard:routing/gateway@0.1.1",
        path: "../wit",
        with: {
            "switchyard:routing/types@0.1.1": crate::__bindings::platform::types,
            "switchyard:routing/log@0.1.1": crate::__bindings::platform::log,
            "switchyard:routing/kv@0.1.1": crate::__bindings::platform::kv,
            "switchyard:routing/config@0.1.1": crate::__bindings::platform::config,
            "switchyard:routing/clock@0.1.1": crate::__bindings::platform::clock,
            "switchyard:routing/acd@0.1.1": crate::__bindings::platform::acd,
        },
        pub_export_macro: true,
    });
}
