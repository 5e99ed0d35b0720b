//! Parsing a queue entry's body into a validated [`Request`].
//!
//! The body is a JSON object such as `{"command":"activate","device":"SC-0001"}`.
//! Everything that can be checked without the device's state is checked here, so the
//! rules in `device.rs` only deal with well-formed commands.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::Rejection;

/// The commands the CAS understands, as they are spelled in `"command"`.
pub const COMMANDS: [&str; 6] = [
    "activate",
    "deactivate",
    "add_entitlement",
    "remove_entitlement",
    "pair",
    "unpair",
];

/// One command for one device.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub device: HardwareId,
    pub command: Command,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Activate,
    Deactivate,
    /// Product codes, deduplicated and sorted so state and messages are deterministic.
    AddEntitlement(BTreeSet<String>),
    RemoveEntitlement(BTreeSet<String>),
    Pair {
        receiver: HardwareId,
    },
    Unpair,
}

impl Command {
    /// The command's name as written in the body.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Activate => "activate",
            Command::Deactivate => "deactivate",
            Command::AddEntitlement(_) => "add_entitlement",
            Command::RemoveEntitlement(_) => "remove_entitlement",
            Command::Pair { .. } => "pair",
            Command::Unpair => "unpair",
        }
    }
}

/// A smart card or set-top box id: 2 to 4 uppercase ASCII letters, a dash and 4 to 16
/// digits, e.g. `SC-0001` or `STB-20240001`. Ids are kv keys, so the shape also keeps
/// keys short and free of separators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareId(String);

impl HardwareId {
    pub fn parse(text: &str) -> Option<HardwareId> {
        let (prefix, number) = text.split_once('-')?;
        let prefix_ok =
            (2..=4).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_uppercase());
        let number_ok =
            (4..=16).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
        (prefix_ok && number_ok).then(|| HardwareId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HardwareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `code` looks like a product code: 1 to 32 of `A-Z`, `0-9`, `_` and `-`.
fn is_product_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Request {
    /// Parse `body`. With `known_products`, every product must be one of them.
    pub fn parse(body: &str, known_products: Option<&[String]>) -> Result<Request, Rejection> {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return Err(Rejection::bad_request("the body is not valid JSON"));
        };
        let Value::Object(fields) = value else {
            return Err(Rejection::bad_request("the body is not a JSON object"));
        };

        let name = string_field(&fields, "command")?;
        let device = id_field(&fields, "device")?;
        let command = match name {
            "activate" => Command::Activate,
            "deactivate" => Command::Deactivate,
            "add_entitlement" => Command::AddEntitlement(products(&fields, known_products)?),
            "remove_entitlement" => Command::RemoveEntitlement(products(&fields, known_products)?),
            "pair" => Command::Pair {
                receiver: id_field(&fields, "receiver")?,
            },
            "unpair" => Command::Unpair,
            other => {
                return Err(Rejection::bad_request(format!(
                    "unknown command '{other}'; expected one of {}",
                    COMMANDS.join(", ")
                )));
            }
        };
        Ok(Request { device, command })
    }
}

fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, Rejection> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(Rejection::bad_request(format!("{name} is not a string"))),
        None => Err(Rejection::bad_request(format!("{name} is missing"))),
    }
}

fn id_field(fields: &Map<String, Value>, name: &str) -> Result<HardwareId, Rejection> {
    let text = string_field(fields, name)?;
    HardwareId::parse(text).ok_or_else(|| {
        Rejection::bad_request(format!(
            "{name} '{text}' is not a valid id (2-4 capital letters, '-', 4-16 digits, e.g. SC-0001)"
        ))
    })
}

fn products(
    fields: &Map<String, Value>,
    known: Option<&[String]>,
) -> Result<BTreeSet<String>, Rejection> {
    let not_a_list =
        || Rejection::bad_request("products must be a non-empty list of product codes");
    let Some(Value::Array(items)) = fields.get("products") else {
        return Err(not_a_list());
    };
    if items.is_empty() {
        return Err(not_a_list());
    }

    let mut products = BTreeSet::new();
    for item in items {
        let code = item.as_str().ok_or_else(not_a_list)?;
        if !is_product_code(code) {
            return Err(Rejection::bad_request(format!(
                "'{code}' is not a valid product code (1-32 of A-Z, 0-9, '_', '-')"
            )));
        }
        if known.is_some_and(|known| !known.iter().any(|k| k == code)) {
            return Err(Rejection::bad_request(format!("unknown product {code}")));
        }
        products.insert(code.to_string());
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Request, Rejection> {
        Request::parse(body, None)
    }

    fn description(result: Result<Request, Rejection>) -> String {
        let rejection = result.unwrap_err();
        assert_eq!(rejection.code, "CAS-400");
        rejection.description
    }

    #[test]
    fn device_and_receiver_ids_have_a_fixed_shape() {
        for good in ["SC-0001", "STB-20240001", "ABCD-1234567890123456"] {
            assert!(HardwareId::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "SC0001",
            "sc-0001",
            "S-0001",
            "SCABC-0001",
            "SC-001",
            "SC-12345678901234567",
            "SC-00a1",
            "SC-0001-2",
            "SC--0001",
        ] {
            assert!(HardwareId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_command_parses() {
        let request = parse(r#"{"command":"activate","device":"SC-0001"}"#).unwrap();
        assert_eq!(request.device.as_str(), "SC-0001");
        assert_eq!(request.command, Command::Activate);

        let request = parse(
            r#"{"command":"add_entitlement","device":"SC-0001","products":["SPORTS","MOVIES","SPORTS"]}"#,
        )
        .unwrap();
        assert_eq!(
            request.command,
            Command::AddEntitlement(["MOVIES".to_string(), "SPORTS".to_string()].into())
        );

        let request =
            parse(r#"{"command":"pair","device":"SC-0001","receiver":"STB-0042"}"#).unwrap();
        assert_eq!(
            request.command,
            Command::Pair {
                receiver: HardwareId::parse("STB-0042").unwrap()
            }
        );

        for name in ["deactivate", "unpair"] {
            let body = format!(r#"{{"command":"{name}","device":"SC-0001"}}"#);
            assert_eq!(parse(&body).unwrap().command.name(), name);
        }
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(
            description(parse("activate SC-0001")),
            "the body is not valid JSON"
        );
        assert_eq!(description(parse("[]")), "the body is not a JSON object");
        assert_eq!(
            description(parse(r#"{"device":"SC-0001"}"#)),
            "command is missing"
        );
        assert_eq!(
            description(parse(r#"{"command":"reboot","device":"SC-0001"}"#)),
            "unknown command 'reboot'; expected one of activate, deactivate, add_entitlement, \
             remove_entitlement, pair, unpair"
        );
        assert_eq!(
            description(parse(r#"{"command":"activate"}"#)),
            "device is missing"
        );
        assert!(
            description(parse(r#"{"command":"activate","device":"card 1"}"#))
                .starts_with("device 'card 1' is not a valid id")
        );
        assert_eq!(
            description(parse(r#"{"command":"pair","device":"SC-0001"}"#)),
            "receiver is missing"
        );
    }

    #[test]
    fn products_must_be_a_non_empty_list_of_codes() {
        let expected = "products must be a non-empty list of product codes";
        for products in [
            "",
            r#","products":[]"#,
            r#","products":"SPORTS""#,
            r#","products":[1]"#,
        ] {
            let body = format!(r#"{{"command":"add_entitlement","device":"SC-0001"{products}}}"#);
            assert_eq!(description(parse(&body)), expected, "{body}");
        }
        let body = r#"{"command":"remove_entitlement","device":"SC-0001","products":["sports"]}"#;
        assert!(description(parse(body)).starts_with("'sports' is not a valid product code"));
    }

    #[test]
    fn products_are_checked_against_the_known_list() {
        let known = ["SPORTS".to_string(), "MOVIES".to_string()];
        let body =
            r#"{"command":"add_entitlement","device":"SC-0001","products":["SPORTS","KIDS"]}"#;
        assert_eq!(
            description(Request::parse(body, Some(&known))),
            "unknown product KIDS"
        );
        let body = r#"{"command":"add_entitlement","device":"SC-0001","products":["MOVIES"]}"#;
        assert!(Request::parse(body, Some(&known)).is_ok());
    }
}
