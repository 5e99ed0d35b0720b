//! A routing application written against `switchyard:routing@0.1.0` with plain
//! `wit-bindgen`, kept to prove that plugins built before the package grew still load
//! and run. Its `wit/` is a frozen copy of the 0.1.0 contract; never update it.
//!
//! It routes every message to group `legacy` with user data `previous`: the body of
//! the message before it (kv key `last`). A body of `forget` deletes the key with
//! 0.1.0's `delete`, which reports nothing.

wit_bindgen::generate!({
    world: "routing-application",
    path: "wit",
});

use switchyard::routing::kv;
use switchyard::routing::types::{GroupTarget, Target};

struct Legacy;

impl Guest for Legacy {
    fn route(
        message: InboundMessage,
        _connector: ConnectorContext,
        _conversation: Conversation,
    ) -> Decision {
        let previous = kv::get("last").unwrap_or_default();
        if message.body == "forget" {
            kv::delete("last");
        } else {
            let _ = kv::set("last", &message.body);
        }
        Decision {
            target: Target::AcdGroup(GroupTarget {
                group: "legacy".into(),
                priority: 0,
                subject: None,
                user_data: vec![("previous".into(), previous)],
            }),
            status: None,
            tags: Vec::new(),
            replies: Vec::new(),
        }
    }
}

export!(Legacy);
