//! The CAS processor: an external system that settles DEVICE queue entries carrying
//! conditional-access commands, keeping each device's state in the plugin's kv store.
//! Commands, codes and settings are documented in README.md.

mod command;
mod device;

use serde::Deserialize;
use switchyard_guest::{
    Channel, Direction, ExternalSystem, ProcessOutcome, QueueEntry, SettingsError, config, kv, log,
};

use crate::command::Request;
use crate::device::DeviceState;

/// Why an entry was refused, with the CAS's own code.
#[derive(Debug, PartialEq)]
pub struct Rejection {
    pub code: &'static str,
    pub description: String,
}

impl Rejection {
    /// A malformed command: bad JSON, unknown command, bad id or product.
    fn bad_request(description: impl Into<String>) -> Self {
        Rejection {
            code: "CAS-400",
            description: description.into(),
        }
    }

    /// An unknown device, or a product the device does not hold.
    fn not_found(description: impl Into<String>) -> Self {
        Rejection {
            code: "CAS-404",
            description: description.into(),
        }
    }

    /// A command that makes no sense in the device's current state.
    fn conflict(description: impl Into<String>) -> Self {
        Rejection {
            code: "CAS-409",
            description: description.into(),
        }
    }

    /// A fault on the CAS's side: bad settings, unreadable or unwritable state.
    fn internal(description: impl Into<String>) -> Self {
        Rejection {
            code: "CAS-500",
            description: description.into(),
        }
    }
}

/// The processor's settings, e.g. `{"known_products": ["SPORTS", "MOVIES"]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CasSettings {
    /// When set, entitlement commands may name only these products.
    known_products: Option<Vec<String>>,
}

/// What the processor needs from the host; a trait so it can be tested natively.
trait Platform {
    fn settings(&self) -> Result<CasSettings, SettingsError>;
    fn kv_get(&self, key: &str) -> Option<String>;
    fn kv_set(&mut self, key: &str, value: &str) -> Result<(), String>;
    fn log_info(&mut self, line: &str);
}

/// The real host, through the guest SDK.
struct Host;

impl Platform for Host {
    fn settings(&self) -> Result<CasSettings, SettingsError> {
        config::settings()
    }

    fn kv_get(&self, key: &str) -> Option<String> {
        kv::get(key)
    }

    fn kv_set(&mut self, key: &str, value: &str) -> Result<(), String> {
        kv::set(key, value).map_err(|e| e.to_string())
    }

    fn log_info(&mut self, line: &str) {
        log::info(line);
    }
}

struct CasProcessor;

impl ExternalSystem for CasProcessor {
    fn process(entry: QueueEntry) -> ProcessOutcome {
        process(&entry, &mut Host)
    }
}

switchyard_guest::export_external_system!(CasProcessor);

fn process(entry: &QueueEntry, platform: &mut impl Platform) -> ProcessOutcome {
    match settle(entry, platform) {
        // The entry number is stable across retries, so the reference is too.
        Ok(()) => ProcessOutcome::completed_with(format!("cas-{}", entry.number)),
        Err(Rejection { code, description }) => ProcessOutcome::rejected(code, description),
    }
}

fn settle(entry: &QueueEntry, platform: &mut impl Platform) -> Result<(), Rejection> {
    let communication = &entry.communication;
    if communication.media != Channel::Device {
        return Err(Rejection {
            code: "CAS-415",
            description: format!(
                "the CAS takes device commands only, not {} media",
                media_name(communication.media)
            ),
        });
    }
    if communication.direction != Direction::Outgoing {
        return Err(Rejection {
            code: "CAS-405",
            description: "the CAS takes outgoing commands only, not incoming ones".into(),
        });
    }

    let settings = platform
        .settings()
        .map_err(|e| Rejection::internal(e.to_string()))?;
    let request = Request::parse(&communication.body, settings.known_products.as_deref())?;
    let device = &request.device;

    let key = format!("device:{device}");
    let state = match platform.kv_get(&key) {
        None => None,
        Some(json) => Some(serde_json::from_str::<DeviceState>(&json).map_err(|_| {
            Rejection::internal(format!("the stored state of device {device} is unreadable"))
        })?),
    };
    let state = device::apply(device, state, &request.command)?;

    let json = serde_json::to_string(&state).expect("device state always serializes");
    platform.kv_set(&key, &json).map_err(|error| {
        Rejection::internal(format!(
            "could not store the state of device {device}: {error}"
        ))
    })?;
    platform.log_info(&format!(
        "{} {device}: done (entry {})",
        request.command.name(),
        entry.number
    ));
    Ok(())
}

fn media_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Email => "email",
        Channel::Device => "device",
    }
}

#[cfg(test)]
mod tests;
