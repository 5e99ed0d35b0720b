//! The Twilio gateway: a gateway plugin that sends outgoing SMS queue entries through
//! Twilio's Programmable Messaging API (`POST .../Accounts/{sid}/Messages.json`) and
//! turns Twilio's answer into sent, failed or retry. Settings, request, codes and
//! response rules are documented in README.md.

mod encoding;
mod request;
mod response;
mod settings;

use switchyard_guest::{
    Gateway, HttpRequest, HttpResponse, ProcessError, QueueEntry, SendResult, config,
};

/// What the gateway needs from the host: only its settings. Behind a trait so the
/// whole request can be tested natively, where the real imports do not exist.
pub trait Platform {
    /// The plugin's settings as JSON text (`{}` when none were given).
    fn settings(&self) -> String;
}

/// The real host, through the guest SDK.
struct Host;

impl Platform for Host {
    fn settings(&self) -> String {
        config::raw()
    }
}

struct TwilioGateway;

impl Gateway for TwilioGateway {
    fn build_request(entry: QueueEntry) -> Result<HttpRequest, ProcessError> {
        request::build(&entry, &Host)
    }

    fn parse_response(_entry: QueueEntry, response: HttpResponse) -> SendResult {
        response::parse(&response)
    }
}

switchyard_guest::export_gateway!(TwilioGateway);

/// Longest description the plugin hands back, in characters. The host refuses
/// descriptions over 4096 bytes as a broken contract; 1000 characters of UTF-8 stay
/// under that whatever Twilio or the settings contain.
const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// `text` cut to at most `max` characters, with `…` marking a cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests;
