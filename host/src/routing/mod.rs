//! Routing at work: the ingest writer that stores posts, the router that hands stored
//! messages to routing applications in batches, and the kv and staffing they see. The
//! rules decisions obey are in `switchyard_domain::routing`.

pub mod env;
pub mod pipeline;
