//! The JSON and form dialects of hosted inbound-mail services: Postmark's inbound
//! webhook (JSON) and Mailgun's forward (a form, or multipart with the attachments).
//! Each is reduced to the same [`InboundEmail`] as raw MIME.

use base64::Engine;
use serde::Deserialize;

use super::{
    AttachmentData, Dialect, EmailRefusal, InboundEmail, MAX_ADDRESSES, Mailbox, check_attachments,
    clean_message_id, clean_subject, generated_message_id, html_to_text, message_ids, newest_ids,
    normalize_address,
};
use crate::acd_groups::FieldError;

/// A name and an address, as Postmark's `FromFull`, `ToFull` and `CcFull` give them.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PostmarkAddress {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PostmarkHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PostmarkAttachment {
    pub name: String,
    /// The bytes, base64.
    pub content: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_length: Option<u64>,
    #[serde(default, rename = "ContentID")]
    pub content_id: Option<String>,
}

/// Postmark's inbound webhook. Fields Switchyard does not use (`MailboxHash`,
/// `StrippedTextReply`, ...) are accepted and ignored: Postmark adds fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PostmarkInbound {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub from_name: Option<String>,
    #[serde(default)]
    pub from_full: Option<PostmarkAddress>,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub to_full: Vec<PostmarkAddress>,
    #[serde(default)]
    pub cc: String,
    #[serde(default)]
    pub cc_full: Vec<PostmarkAddress>,
    #[serde(default)]
    pub original_recipient: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    /// Postmark's own id of the message; the mail's Message-ID is in `Headers`.
    #[serde(default, rename = "MessageID")]
    pub message_id: Option<String>,
    #[serde(default)]
    pub text_body: Option<String>,
    #[serde(default)]
    pub html_body: Option<String>,
    #[serde(default)]
    pub headers: Vec<PostmarkHeader>,
    #[serde(default)]
    pub attachments: Vec<PostmarkAttachment>,
}

/// Reads a Postmark post.
pub fn postmark(post: PostmarkInbound) -> Result<InboundEmail, EmailRefusal> {
    let header = |name: &str| {
        post.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    };
    let (from_address, from_name) = match &post.from_full {
        Some(full) if !full.email.is_empty() => (full.email.clone(), full.name.clone()),
        _ => (post.from.clone(), post.from_name.clone()),
    };
    let from = Mailbox {
        address: normalize_address(&from_address, "From")?,
        name: from_name.filter(|n| !n.is_empty()),
    };
    let to = if post.to_full.is_empty() {
        address_list(&post.to)
    } else {
        full_list(&post.to_full)
    };
    let cc = if post.cc_full.is_empty() {
        address_list(&post.cc)
    } else {
        full_list(&post.cc_full)
    };
    let subject = clean_subject(post.subject.as_deref());
    let html = post.html_body.filter(|h| !h.is_empty());
    let text = match post.text_body.filter(|t| !t.is_empty()) {
        Some(text) => text,
        None => html.as_deref().map(html_to_text).unwrap_or_default(),
    };
    // The mail's own Message-ID threads; Postmark's id is only its own.
    let stated = header("Message-ID")
        .and_then(clean_message_id)
        .or_else(|| post.message_id.as_deref().and_then(clean_message_id));
    let (message_id, generated) = match stated {
        Some(id) => (id, false),
        None => (
            generated_message_id(
                &from.address,
                subject.as_deref(),
                &text,
                post.date.as_deref().unwrap_or(""),
            ),
            true,
        ),
    };
    let mut attachments = Vec::new();
    for (i, attachment) in post.attachments.into_iter().enumerate() {
        let content = base64::engine::general_purpose::STANDARD
            .decode(attachment.content.trim())
            .map_err(|e| {
                EmailRefusal::Invalid(FieldError::new(
                    "Attachments",
                    format!("attachment {i} (`{}`) is not base64: {e}", attachment.name),
                ))
            })?;
        attachments.push(AttachmentData {
            name: attachment.name,
            mime_type: attachment
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase(),
            inline: attachment.content_id.is_some(),
            content_id: attachment.content_id.as_deref().and_then(clean_message_id),
            content,
        });
    }
    check_attachments(&attachments)?;
    let envelope_to = post
        .original_recipient
        .as_deref()
        .and_then(|r| normalize_address(r, "OriginalRecipient").ok())
        .into_iter()
        .collect();
    Ok(InboundEmail {
        message_id,
        generated_message_id: generated,
        from,
        to,
        cc,
        subject,
        text,
        html,
        in_reply_to: newest_ids(header("In-Reply-To").map(message_ids).unwrap_or_default()),
        references: newest_ids(header("References").map(message_ids).unwrap_or_default()),
        envelope_to,
        attachments,
        dialect: Dialect::Postmark,
    })
}

/// Mailgun's forward: its form fields, and the files of a multipart post.
#[derive(Debug, Default)]
pub struct MailgunPost {
    pub fields: Vec<(String, String)>,
    pub files: Vec<AttachmentData>,
}

/// Reads a Mailgun forward.
pub fn mailgun(post: MailgunPost) -> Result<InboundEmail, EmailRefusal> {
    let field = |name: &str| {
        post.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    // `message-headers` is a JSON list of [name, value] pairs.
    let headers: Vec<(String, String)> = match field("message-headers") {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            EmailRefusal::Invalid(FieldError::new(
                "message-headers",
                format!("must be a JSON list of [name, value] pairs: {e}"),
            ))
        })?,
        None => Vec::new(),
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let from_field = field("from").or(header("From"));
    let (from_address, from_name) = match from_field
        .map(address_list)
        .and_then(|mut l| (!l.is_empty()).then(|| l.remove(0)))
    {
        Some(mailbox) => (mailbox.address, mailbox.name),
        None => (
            normalize_address(field("sender").unwrap_or_default(), "sender")?,
            None,
        ),
    };
    let from = Mailbox {
        address: from_address,
        name: from_name,
    };
    let subject = clean_subject(field("subject").or(header("Subject")));
    let html = field("body-html")
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    let text = match field("body-plain").filter(|t| !t.is_empty()) {
        Some(text) => text.to_owned(),
        None => html.as_deref().map(html_to_text).unwrap_or_default(),
    };
    let stated = field("Message-Id")
        .or(header("Message-Id"))
        .and_then(clean_message_id);
    let (message_id, generated) = match stated {
        Some(id) => (id, false),
        None => (
            generated_message_id(
                &from.address,
                subject.as_deref(),
                &text,
                header("Date").unwrap_or(""),
            ),
            true,
        ),
    };
    check_attachments(&post.files)?;
    let envelope_to = field("recipient")
        .map(address_list)
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.address)
        .collect();
    Ok(InboundEmail {
        message_id,
        generated_message_id: generated,
        from,
        to: field("To")
            .or(header("To"))
            .map(address_list)
            .unwrap_or_default(),
        cc: field("Cc")
            .or(header("Cc"))
            .map(address_list)
            .unwrap_or_default(),
        subject,
        text,
        html,
        in_reply_to: newest_ids(
            field("In-Reply-To")
                .or(header("In-Reply-To"))
                .map(message_ids)
                .unwrap_or_default(),
        ),
        references: newest_ids(
            field("References")
                .or(header("References"))
                .map(message_ids)
                .unwrap_or_default(),
        ),
        envelope_to,
        attachments: post.files,
        dialect: Dialect::Mailgun,
    })
}

/// Addresses in a header-style list (`"Bob" <bob@x.org>, ann@y.org`); what is not an
/// address is left out. A display name with a comma in quotes is kept whole.
pub fn address_list(text: &str) -> Vec<Mailbox> {
    let mut pieces = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' | ';' if !quoted => pieces.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    pieces.push(current);
    pieces
        .iter()
        .filter_map(|piece| {
            let piece = piece.trim();
            let (name, address) = match (piece.rfind('<'), piece.rfind('>')) {
                (Some(open), Some(close)) if open < close => (
                    Some(piece[..open].trim().trim_matches('"').trim()),
                    &piece[open + 1..close],
                ),
                _ => (None, piece),
            };
            Some(Mailbox {
                address: normalize_address(address, "To").ok()?,
                name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            })
        })
        .take(MAX_ADDRESSES)
        .collect()
}

fn full_list(full: &[PostmarkAddress]) -> Vec<Mailbox> {
    full.iter()
        .filter_map(|a| {
            Some(Mailbox {
                address: normalize_address(&a.email, "To").ok()?,
                name: a.name.clone().filter(|n| !n.is_empty()),
            })
        })
        .take(MAX_ADDRESSES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_postmark_post_threads_by_the_mails_own_ids_and_decodes_attachments() {
        let post: PostmarkInbound = serde_json::from_value(json!({
            "From": "ann@example.com", "FromName": "Ann",
            "FromFull": { "Email": "Ann@Example.com", "Name": "Ann Smith" },
            "To": "\"Support, EU\" <support@shop.example>",
            "ToFull": [{ "Email": "support@shop.example", "Name": "Support, EU" }],
            "Cc": "", "CcFull": [],
            "OriginalRecipient": "support+eu@shop.example",
            "Subject": "Re: your order", "MessageID": "7a8b-postmark",
            "TextBody": "Thanks", "HtmlBody": "<p>Thanks</p>",
            "MailboxHash": "eu",
            "Headers": [
                { "Name": "Message-ID", "Value": "<r1@example.com>" },
                { "Name": "In-Reply-To", "Value": "<q1@shop.example>" },
                { "Name": "References", "Value": "<q0@shop.example> <q1@shop.example>" },
            ],
            "Attachments": [{ "Name": "a.txt", "Content": "aGVsbG8=", "ContentType": "text/plain",
                              "ContentLength": 5 }],
        }))
        .unwrap();
        let email = postmark(post).unwrap();
        assert_eq!(email.from.address, "ann@example.com");
        assert_eq!(email.from.name.as_deref(), Some("Ann Smith"));
        assert_eq!(email.to[0].name.as_deref(), Some("Support, EU"));
        assert_eq!(email.message_id, "r1@example.com");
        assert_eq!(email.in_reply_to, ["q1@shop.example"]);
        assert_eq!(email.references.len(), 2);
        assert_eq!(email.attachments[0].content, b"hello");
        assert_eq!(email.envelope_to, ["support+eu@shop.example"]);
        assert_eq!(email.dialect, Dialect::Postmark);
    }

    #[test]
    fn a_postmark_post_with_bad_base64_or_no_sender_is_refused() {
        let post: PostmarkInbound = serde_json::from_value(json!({
            "From": "a@example.com", "To": "s@shop.example",
            "Attachments": [{ "Name": "x", "Content": "***" }],
        }))
        .unwrap();
        assert!(
            matches!(postmark(post), Err(EmailRefusal::Invalid(e)) if e.field == "Attachments")
        );
        let post: PostmarkInbound =
            serde_json::from_value(json!({ "To": "s@shop.example" })).unwrap();
        assert!(matches!(postmark(post), Err(EmailRefusal::Invalid(e)) if e.field == "From"));
    }

    #[test]
    fn a_mailgun_forward_reads_fields_and_headers() {
        let fields = [
            ("sender", "bounce@example.com"),
            ("from", "Ann <ann@example.com>"),
            ("recipient", "support@shop.example"),
            ("subject", "Help"),
            ("body-plain", ""),
            ("body-html", "<p>Help me</p>"),
            (
                "message-headers",
                r#"[["Message-Id", "<g1@example.com>"], ["In-Reply-To", "<q9@shop.example>"], ["To", "support@shop.example"]]"#,
            ),
        ];
        let email = mailgun(MailgunPost {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: vec![],
        })
        .unwrap();
        assert_eq!(email.from.address, "ann@example.com");
        assert_eq!(email.text, "Help me");
        assert_eq!(email.message_id, "g1@example.com");
        assert_eq!(email.in_reply_to, ["q9@shop.example"]);
        assert_eq!(email.to[0].address, "support@shop.example");
        assert_eq!(email.candidate_recipients(), ["support@shop.example"]);
        let bad = mailgun(MailgunPost {
            fields: vec![("message-headers".into(), "{".into())],
            files: vec![],
        });
        assert!(matches!(bad, Err(EmailRefusal::Invalid(e)) if e.field == "message-headers"));
    }

    #[test]
    fn address_lists_keep_quoted_commas_and_skip_junk() {
        let list = address_list("\"Doe, Jane\" <jane@x.org>; bob@y.org, not an address");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name.as_deref(), Some("Doe, Jane"));
        assert_eq!(list[1].address, "bob@y.org");
    }
}
