//! A device's conditional-access state and the rules for changing it.
//!
//! A command either applies cleanly or is refused as a whole, so the stored state never
//! reflects half a command. Commands that would change nothing (activating an active
//! card, adding a product it already holds) are refused as conflicts rather than
//! accepted silently: the sender's picture of the device is wrong, and an operator
//! should see that.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Rejection;
use crate::command::{Command, HardwareId};

/// What the CAS remembers about a device that was ever activated. Stored as JSON in kv.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    pub active: bool,
    /// Products the device may decrypt. Always empty while deactivated.
    pub entitlements: BTreeSet<String>,
    /// The set-top box the card is paired with. Survives deactivation: it describes
    /// hardware, not rights.
    pub receiver: Option<String>,
}

/// Apply `command` to `device`, whose stored state is `state` (none if never activated).
pub fn apply(
    device: &HardwareId,
    state: Option<DeviceState>,
    command: &Command,
) -> Result<DeviceState, Rejection> {
    let Some(mut state) = state else {
        return match command {
            Command::Activate => Ok(DeviceState {
                active: true,
                ..DeviceState::default()
            }),
            _ => Err(Rejection::not_found(format!(
                "device {device} is unknown; activate it first"
            ))),
        };
    };

    match command {
        Command::Activate => {
            if state.active {
                return Err(Rejection::conflict(format!(
                    "device {device} is already active"
                )));
            }
            state.active = true;
        }
        Command::Deactivate => {
            if !state.active {
                return Err(Rejection::conflict(format!(
                    "device {device} is already deactivated"
                )));
            }
            state.active = false;
            state.entitlements.clear();
        }
        Command::AddEntitlement(products) => {
            require_active(device, &state, "add entitlements")?;
            let held = join(products.intersection(&state.entitlements));
            if !held.is_empty() {
                return Err(Rejection::conflict(format!(
                    "device {device} already holds {held}"
                )));
            }
            state.entitlements.extend(products.iter().cloned());
        }
        Command::RemoveEntitlement(products) => {
            let missing = join(products.difference(&state.entitlements));
            if !missing.is_empty() {
                return Err(Rejection::not_found(format!(
                    "device {device} does not hold {missing}"
                )));
            }
            state
                .entitlements
                .retain(|product| !products.contains(product));
        }
        Command::Pair { receiver } => {
            require_active(device, &state, "pair it")?;
            if state.receiver.as_deref() == Some(receiver.as_str()) {
                return Err(Rejection::conflict(format!(
                    "device {device} is already paired with {receiver}"
                )));
            }
            // Pairing with another receiver is a box swap, a normal operation.
            state.receiver = Some(receiver.to_string());
        }
        Command::Unpair => {
            if state.receiver.take().is_none() {
                return Err(Rejection::conflict(format!(
                    "device {device} is not paired"
                )));
            }
        }
    }
    Ok(state)
}

fn require_active(device: &HardwareId, state: &DeviceState, to: &str) -> Result<(), Rejection> {
    if state.active {
        Ok(())
    } else {
        Err(Rejection::conflict(format!(
            "device {device} is deactivated; activate it before you {to}"
        )))
    }
}

fn join<'a>(products: impl Iterator<Item = &'a String>) -> String {
    products.map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> HardwareId {
        HardwareId::parse("SC-0001").unwrap()
    }

    fn products(codes: &[&str]) -> BTreeSet<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    fn active(codes: &[&str]) -> DeviceState {
        DeviceState {
            active: true,
            entitlements: products(codes),
            receiver: None,
        }
    }

    fn refusal(state: Option<DeviceState>, command: Command) -> (String, String) {
        let rejection = apply(&card(), state, &command).unwrap_err();
        (rejection.code.to_string(), rejection.description)
    }

    #[test]
    fn a_new_device_can_only_be_activated() {
        assert_eq!(
            apply(&card(), None, &Command::Activate).unwrap(),
            active(&[])
        );
        for command in [
            Command::Deactivate,
            Command::AddEntitlement(products(&["SPORTS"])),
            Command::Unpair,
        ] {
            assert_eq!(
                refusal(None, command),
                (
                    "CAS-404".into(),
                    "device SC-0001 is unknown; activate it first".into()
                )
            );
        }
    }

    #[test]
    fn entitlements_are_added_and_removed_as_a_whole() {
        let state = apply(
            &card(),
            Some(active(&["SPORTS"])),
            &Command::AddEntitlement(products(&["MOVIES", "KIDS"])),
        )
        .unwrap();
        assert_eq!(state.entitlements, products(&["KIDS", "MOVIES", "SPORTS"]));

        let state = apply(
            &card(),
            Some(state),
            &Command::RemoveEntitlement(products(&["SPORTS", "KIDS"])),
        )
        .unwrap();
        assert_eq!(state.entitlements, products(&["MOVIES"]));
    }

    #[test]
    fn nonsensical_entitlement_changes_are_refused() {
        assert_eq!(
            refusal(
                Some(active(&["SPORTS", "MOVIES"])),
                Command::AddEntitlement(products(&["SPORTS", "MOVIES", "KIDS"]))
            ),
            (
                "CAS-409".into(),
                "device SC-0001 already holds MOVIES, SPORTS".into()
            )
        );
        assert_eq!(
            refusal(
                Some(active(&["SPORTS"])),
                Command::RemoveEntitlement(products(&["SPORTS", "KIDS"]))
            ),
            ("CAS-404".into(), "device SC-0001 does not hold KIDS".into())
        );
        let deactivated = DeviceState::default();
        assert_eq!(
            refusal(
                Some(deactivated),
                Command::AddEntitlement(products(&["SPORTS"]))
            ),
            (
                "CAS-409".into(),
                "device SC-0001 is deactivated; activate it before you add entitlements".into()
            )
        );
    }

    #[test]
    fn deactivation_revokes_entitlements_but_keeps_the_pairing() {
        let mut state = active(&["SPORTS"]);
        state.receiver = Some("STB-0042".into());
        let state = apply(&card(), Some(state), &Command::Deactivate).unwrap();
        assert!(!state.active);
        assert!(state.entitlements.is_empty());
        assert_eq!(state.receiver.as_deref(), Some("STB-0042"));

        assert_eq!(
            refusal(Some(state.clone()), Command::Deactivate),
            (
                "CAS-409".into(),
                "device SC-0001 is already deactivated".into()
            )
        );
        let state = apply(&card(), Some(state), &Command::Activate).unwrap();
        assert!(state.active);
        assert_eq!(
            refusal(Some(state), Command::Activate),
            ("CAS-409".into(), "device SC-0001 is already active".into())
        );
    }

    #[test]
    fn pairing_swaps_receivers_and_refuses_repeats() {
        let receiver = |id: &str| HardwareId::parse(id).unwrap();
        let state = apply(
            &card(),
            Some(active(&[])),
            &Command::Pair {
                receiver: receiver("STB-0001"),
            },
        )
        .unwrap();
        let state = apply(
            &card(),
            Some(state),
            &Command::Pair {
                receiver: receiver("STB-0002"),
            },
        )
        .unwrap();
        assert_eq!(state.receiver.as_deref(), Some("STB-0002"));
        assert_eq!(
            refusal(
                Some(state.clone()),
                Command::Pair {
                    receiver: receiver("STB-0002")
                }
            ),
            (
                "CAS-409".into(),
                "device SC-0001 is already paired with STB-0002".into()
            )
        );
        let state = apply(&card(), Some(state), &Command::Unpair).unwrap();
        assert_eq!(state.receiver, None);
        assert_eq!(
            refusal(Some(state), Command::Unpair),
            ("CAS-409".into(), "device SC-0001 is not paired".into())
        );
    }
}
