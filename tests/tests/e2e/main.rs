//! End-to-end tests, one module per feature. Plugins are built from source in the
//! repository by `plugins/build.sh` before these run.

mod cli;
mod compat;
mod gateways;
mod hostile;
mod keyword_routers;
mod loading;
mod processors;
mod server;
