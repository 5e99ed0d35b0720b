//! Routing at work: the ingest writer that stores posts, the router that hands stored
//! messages to routing applications in batches (side by side across connectors, by
//! `lanes`), and the kv and staffing they see. The
//! rules decisions obey are in `switchyard_domain::routing`.

pub mod env;
pub mod lanes;
pub mod pipeline;
