//! Inbound email (issue 12): what a mail relay delivers, in whichever dialect it posts
//! (raw MIME, Postmark's JSON, Mailgun's form), reduced to one [`InboundEmail`], and
//! the limits every dialect is held to.

#[cfg(test)]
mod fuzz;
pub mod mime;
pub mod relays;
pub mod thread;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::acd_groups::FieldError;

/// Largest post a relay may make, in bytes: room for a 20 MB attachment in base64
/// (4/3 of its size) with the message around it.
pub const MAX_EMAIL_BYTES: usize = 32 << 20;
/// Largest single attachment, decoded.
pub const MAX_ATTACHMENT_BYTES: usize = 25 << 20;
/// Most attachments (inline parts included) one email may carry.
pub const MAX_ATTACHMENTS: usize = 100;
/// Longest subject kept, in characters; a longer one is cut, not refused (mail
/// clients write what they like there, and the message must still be received).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Most addresses read from To and from Cc each.
pub const MAX_ADDRESSES: usize = 100;
/// Most message ids read from In-Reply-To and from References each (the newest kept).
pub const MAX_THREAD_IDS: usize = 50;

/// A mailbox: an address, lower-cased, and the display name it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Mailbox {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A file an email carries, with its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentData {
    pub name: String,
    pub mime_type: String,
    pub content_id: Option<String>,
    /// Shown in the body (`Content-Disposition: inline` with a Content-ID), not listed
    /// as a file by mail clients; stored and exposed all the same.
    pub inline: bool,
    pub content: Vec<u8>,
}

impl AttachmentData {
    /// Content address: the hex SHA-256 of the bytes.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.content))
    }
}

impl std::fmt::Debug for AttachmentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentData")
            .field("name", &self.name)
            .field("mime_type", &self.mime_type)
            .field("size", &self.content.len())
            .finish()
    }
}

/// How an email reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// Raw RFC 5322 / MIME (`message/rfc822`), as Postfix pipes it.
    Mime,
    Postmark,
    Mailgun,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mime => "mime",
            Self::Postmark => "postmark",
            Self::Mailgun => "mailgun",
        }
    }
}

/// An inbound email as every dialect reduces to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// The Message-ID without angle brackets: the email's identity for retries.
    pub message_id: String,
    /// The mail had no Message-ID; [`generated_message_id`] made one from its content.
    pub generated_message_id: bool,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: Option<String>,
    /// The plain text: the text part, else the HTML part with its markup removed.
    pub text: String,
    pub html: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The relay's explicit envelope recipients, when it names them (Mailgun's
    /// `recipient`, Postmark's `OriginalRecipient`, `X-Original-To`, `Delivered-To`):
    /// tried before To and Cc to find the connector.
    pub envelope_to: Vec<String>,
    pub attachments: Vec<AttachmentData>,
    pub dialect: Dialect,
}

impl InboundEmail {
    /// The addresses to look a connector up by, most specific first, each once.
    pub fn candidate_recipients(&self) -> Vec<String> {
        let mut seen = Vec::new();
        let all = self
            .envelope_to
            .iter()
            .cloned()
            .chain(self.to.iter().map(|m| m.address.clone()))
            .chain(self.cc.iter().map(|m| m.address.clone()));
        for address in all {
            if !seen.contains(&address) {
                seen.push(address);
            }
        }
        seen
    }
}

/// Why an inbound email was refused; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailRefusal {
    /// The post is not an email this dialect can read.
    #[error("{0}")]
    Malformed(String),
    /// One field breaks a rule.
    #[error("{0}")]
    Invalid(FieldError),
    /// Larger than a limit allows.
    #[error("{0}")]
    TooLarge(String),
}

impl From<FieldError> for EmailRefusal {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

/// An email address as connectors and contacts hold it: checked as the SMTP sender
/// will read it, and lower-cased (mail systems treat addresses case-insensitively in
/// practice, and a contact must not split in two by a capital letter).
pub fn normalize_address(text: &str, field: &'static str) -> Result<String, FieldError> {
    let trimmed = text.trim();
    let address = trimmed
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if address.len() > 254 {
        return Err(FieldError::new(
            field,
            format!("`{text}` is longer than the 254 characters an address may have"),
        ));
    }
    check_address(&address, field)?;
    Ok(address)
}

/// Checks an email address as lettre will read it when sending.
pub fn check_address(text: &str, field: &'static str) -> Result<(), FieldError> {
    text.parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| FieldError::new(field, format!("`{text}` is not an email address ({e})")))
}

/// A message id without its angle brackets and surrounding space; `None` when
/// nothing is left or it could not be an id (spaces, controls, over 998 bytes).
pub fn clean_message_id(text: &str) -> Option<String> {
    let id = text.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id).trim();
    let bad = id.is_empty()
        || id.len() > 998
        || id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    (!bad).then(|| id.to_owned())
}

/// Message ids in a header value such as References: every `<...>` in order (ids
/// without brackets, as some clients write them, separated by spaces).
pub fn message_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for piece in text.split(|c: char| c.is_whitespace() || c == ',') {
        for part in piece.split_inclusive('>') {
            if let Some(id) = clean_message_id(part)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    ids
}

/// The newest [`MAX_THREAD_IDS`] of `ids`.
pub(crate) fn newest_ids(mut ids: Vec<String>) -> Vec<String> {
    if ids.len() > MAX_THREAD_IDS {
        ids.drain(..ids.len() - MAX_THREAD_IDS);
    }
    ids
}

/// A Message-ID for a mail that came without one, made from what identifies it, so a
/// relay retrying the same mail gets the same id (and the retry is recognised).
pub fn generated_message_id(from: &str, subject: Option<&str>, text: &str, date: &str) -> String {
    let mut hash = Sha256::new();
    for part in [from, subject.unwrap_or(""), text, date] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!(
        "{}@generated.switchyard",
        hex::encode(&hash.finalize()[..16])
    )
}

/// A subject on one line, cut at [`MAX_SUBJECT_CHARS`]; `None` when empty.
pub(crate) fn clean_subject(subject: Option<&str>) -> Option<String> {
    let one_line: String = subject?
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let trimmed = one_line.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Checks the attachments against the limits.
pub(crate) fn check_attachments(attachments: &[AttachmentData]) -> Result<(), EmailRefusal> {
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(EmailRefusal::TooLarge(format!(
            "the email carries {} attachments; at most {MAX_ATTACHMENTS} are taken",
            attachments.len()
        )));
    }
    if let Some(big) = attachments
        .iter()
        .find(|a| a.content.len() > MAX_ATTACHMENT_BYTES)
    {
        return Err(EmailRefusal::TooLarge(format!(
            "attachment `{}` is {} bytes; at most {MAX_ATTACHMENT_BYTES} are taken",
            big.name,
            big.content.len()
        )));
    }
    Ok(())
}

/// The text of an HTML body, for a mail without a text part: tags dropped, entities
/// for the common characters decoded, blocks on lines of their own. Good enough to
/// route on and to read; the HTML itself is kept beside it.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skipping: Option<&str> = None;
    while let Some(start) = rest.find('<') {
        if skipping.is_none() {
            out.push_str(&decode_entities(&rest[..start]));
        }
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match skipping {
            Some(until) if tag.starts_with('/') && name == until => skipping = None,
            Some(_) => {}
            None if (name == "script" || name == "style") && !tag.starts_with('/') => {
                skipping = Some(if name == "script" { "script" } else { "style" });
            }
            None if matches!(
                name.as_str(),
                "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "blockquote"
            ) =>
            {
                out.push('\n')
            }
            None => {}
        }
        rest = &rest[start + end + 1..];
    }
    if skipping.is_none() {
        out.push_str(&decode_entities(rest));
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let mut text = lines.join("\n");
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_owned()
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_address(" <Support@Example.COM> ", "address").unwrap(),
            "support@example.com"
        );
        assert_eq!(
            normalize_address("a b@c.d", "address").unwrap_err().field,
            "address"
        );
        assert!(normalize_address("nobody", "address").is_err());
        assert!(normalize_address(&format!("{}@x.org", "a".repeat(260)), "address").is_err());
    }

    #[test]
    fn message_ids_lose_their_brackets_and_bad_ones_are_dropped() {
        assert_eq!(clean_message_id(" <abc@x> ").as_deref(), Some("abc@x"));
        assert_eq!(clean_message_id("<>"), None);
        assert_eq!(clean_message_id("a b@x"), None);
        assert_eq!(
            message_ids("<a@x> <b@y>\r\n <c@z>,<a@x>"),
            ["a@x", "b@y", "c@z"]
        );
        assert_eq!(message_ids("<a@x><b@y>"), ["a@x", "b@y"]);
    }

    #[test]
    fn generated_ids_are_stable_for_the_same_mail() {
        let a = generated_message_id("a@b.c", Some("Hi"), "text", "Mon, 1 Jan 2024");
        assert_eq!(
            a,
            generated_message_id("a@b.c", Some("Hi"), "text", "Mon, 1 Jan 2024")
        );
        assert_ne!(
            a,
            generated_message_id("a@b.c", Some("Hi"), "text!", "Mon, 1 Jan 2024")
        );
        assert!(a.ends_with("@generated.switchyard"));
    }

    #[test]
    fn html_becomes_readable_text() {
        let text = html_to_text(
            "<html><head><style>p{color:red}</style></head><body><p>Hello &amp; welcome</p>\
             <div>Line<br>two</div><script>alert(1)</script></body></html>",
        );
        // Blocks are paragraphs: a blank line between them.
        assert_eq!(text, "Hello & welcome\n\nLine\ntwo");
    }

    #[test]
    fn subjects_are_one_line_and_cut() {
        assert_eq!(clean_subject(Some(" a\r\nb ")).as_deref(), Some("a  b"));
        assert_eq!(clean_subject(Some("  ")), None);
        let long = "x".repeat(2000);
        assert_eq!(
            clean_subject(Some(&long)).unwrap().chars().count(),
            MAX_SUBJECT_CHARS
        );
    }
}
