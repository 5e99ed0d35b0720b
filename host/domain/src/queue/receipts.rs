//! Delivery receipts from SMS gateways (seed 001): the JSON receipt and Twilio's
//! status callback as gateways post them, the checks on their fields, and how Twilio's
//! statuses map to seed 001's text statuses.

use serde::Deserialize;

use super::TextStatus;
use crate::acd_groups::FieldError;

/// A delivery receipt for one part of a message.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub reference: String,
    pub part: u32,
    pub parts: Option<u32>,
    pub status: TextStatus,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
}

/// The JSON receipt: one part of one message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonReceipt {
    /// The gateway's id for the message, as its answer to the send gave it.
    pub message_id: String,
    /// `sent`, `delivered`, `undelivered`, `unreachable` or `failed`.
    pub status: String,
    /// 1-based part of a multi-part message; 1 when absent.
    pub part: Option<u32>,
    /// How many parts the gateway split the message into, if it says.
    pub parts: Option<u32>,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
}

/// Twilio's status callback. Twilio posts more fields (AccountSid, From, To, ...); they
/// are not needed and not refused. `MessageSid` (or `SmsSid`) and `MessageStatus` (or
/// `SmsStatus`) are required.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TwilioReceipt {
    #[serde(rename = "MessageSid")]
    pub message_sid: Option<String>,
    #[serde(rename = "SmsSid")]
    pub sms_sid: Option<String>,
    #[serde(rename = "MessageStatus")]
    pub message_status: Option<String>,
    #[serde(rename = "SmsStatus")]
    pub sms_status: Option<String>,
    #[serde(rename = "ErrorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "ErrorMessage")]
    pub error_message: Option<String>,
}

/// Longest reference or error text kept from a gateway.
const MAX_FIELD: usize = 1_024;
/// More parts than any gateway concatenates (the UDH counter is one byte).
const MAX_PARTS: u32 = 255;

fn reference(id: &str, field: &'static str) -> Result<String, FieldError> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_FIELD || id.contains('\0') {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_FIELD} bytes without NUL"),
        ));
    }
    Ok(id.to_owned())
}

fn text(value: Option<String>, field: &'static str) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.len() > MAX_FIELD || v.contains('\0') => Err(FieldError::new(
            field,
            format!("must be at most {MAX_FIELD} bytes without NUL"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

impl JsonReceipt {
    /// The receipt this post reports, its fields checked.
    pub fn into_receipt(self) -> Result<Receipt, FieldError> {
        let post = self;
        let status = TextStatus::parse(&post.status)
            .filter(|s| s.is_receipt_outcome())
            .ok_or_else(|| {
                FieldError::new(
                    "status",
                    format!(
                        "`{}` is not one of sent, delivered, undelivered, unreachable, failed",
                        post.status
                    ),
                )
            })?;
        let part = post.part.unwrap_or(1);
        if !(1..=MAX_PARTS).contains(&part) {
            return Err(FieldError::new(
                "part",
                format!("must be between 1 and {MAX_PARTS}"),
            ));
        }
        if let Some(parts) = post.parts
            && !(part..=MAX_PARTS).contains(&parts)
        {
            return Err(FieldError::new(
                "parts",
                format!("must be between part ({part}) and {MAX_PARTS}"),
            ));
        }
        Ok(Receipt {
            reference: reference(&post.message_id, "message_id")?,
            part,
            parts: post.parts,
            status,
            error_code: text(post.error_code, "error_code")?,
            error_description: text(post.error_description, "error_description")?,
        })
    }
}

impl TwilioReceipt {
    /// Twilio's statuses; interim ones (queued, sending, ...) change nothing and give
    /// None. Error 30003 ("Unreachable destination handset") is seed 001's Unreachable.
    pub fn into_receipt(self) -> Result<Option<Receipt>, FieldError> {
        let post = self;
        let sid = post
            .message_sid
            .or(post.sms_sid)
            .ok_or_else(|| FieldError::new("MessageSid", "is required"))?;
        let raw = post
            .message_status
            .or(post.sms_status)
            .ok_or_else(|| FieldError::new("MessageStatus", "is required"))?;
        let error_code = text(post.error_code, "ErrorCode")?;
        let status = match raw.to_ascii_lowercase().as_str() {
            "delivered" | "read" => TextStatus::Delivered,
            "undelivered" if error_code.as_deref() == Some("30003") => TextStatus::Unreachable,
            "undelivered" => TextStatus::Undelivered,
            "failed" => TextStatus::Failed,
            "sent" => TextStatus::Sent,
            "queued"
            | "accepted"
            | "scheduled"
            | "sending"
            | "receiving"
            | "received"
            | "canceled"
            | "partially_delivered" => return Ok(None),
            other => {
                return Err(FieldError::new(
                    "MessageStatus",
                    format!("`{other}` is not a Twilio message status"),
                ));
            }
        };
        Ok(Some(Receipt {
            reference: reference(&sid, "MessageSid")?,
            part: 1,
            parts: None,
            status,
            error_code,
            error_description: text(post.error_message, "ErrorMessage")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio(status: &str, code: Option<&str>) -> TwilioReceipt {
        TwilioReceipt {
            message_sid: Some("SM1".into()),
            sms_sid: None,
            message_status: Some(status.into()),
            sms_status: None,
            error_code: code.map(Into::into),
            error_message: None,
        }
    }

    #[test]
    fn twilio_statuses_map_to_seed_001() {
        let status = |s, c| twilio(s, c).into_receipt().unwrap().map(|r| r.status);
        assert_eq!(status("delivered", None), Some(TextStatus::Delivered));
        assert_eq!(
            status("undelivered", Some("30005")),
            Some(TextStatus::Undelivered)
        );
        assert_eq!(
            status("undelivered", Some("30003")),
            Some(TextStatus::Unreachable)
        );
        assert_eq!(status("failed", None), Some(TextStatus::Failed));
        assert_eq!(status("sending", None), None);
        assert!(twilio("exploded", None).into_receipt().is_err());
    }

    #[test]
    fn json_receipts_are_checked() {
        let receipt = |status: &str, part, parts| JsonReceipt {
            message_id: "gw-1".into(),
            status: status.into(),
            part,
            parts,
            error_code: None,
            error_description: None,
        };
        assert_eq!(
            receipt("delivered", Some(2), Some(3))
                .into_receipt()
                .unwrap()
                .part,
            2
        );
        assert_eq!(
            receipt("queued", None, None)
                .into_receipt()
                .unwrap_err()
                .field,
            "status"
        );
        assert_eq!(
            receipt("delivered", Some(0), None)
                .into_receipt()
                .unwrap_err()
                .field,
            "part"
        );
        assert_eq!(
            receipt("delivered", Some(3), Some(2))
                .into_receipt()
                .unwrap_err()
                .field,
            "parts"
        );
    }
}
