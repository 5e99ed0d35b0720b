//! Raw RFC 5322 / MIME, as mail relays post it (`message/rfc822`), read with Stalwart's
//! `mail-parser`: bodies in any charset and transfer encoding, nested multiparts,
//! attachments and inline parts, addresses and threading headers.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

use super::{
    AttachmentData, Dialect, EmailRefusal, InboundEmail, MAX_ADDRESSES, MAX_EMAIL_BYTES, Mailbox,
    check_attachments, clean_message_id, clean_subject, generated_message_id, html_to_text,
    message_ids, newest_ids, normalize_address,
};

/// Reads a raw email. Refuses what is not an email (no header at all, no From with an
/// address), and what is over the limits.
pub fn parse(raw: &[u8]) -> Result<InboundEmail, EmailRefusal> {
    if raw.len() > MAX_EMAIL_BYTES {
        return Err(EmailRefusal::TooLarge(format!(
            "the email is {} bytes; at most {MAX_EMAIL_BYTES} are taken",
            raw.len()
        )));
    }
    let message = MessageParser::default().parse(raw).ok_or_else(|| {
        EmailRefusal::Malformed("the body is not an RFC 5322 message (no header found)".into())
    })?;
    if message.headers().is_empty() {
        return Err(EmailRefusal::Malformed(
            "the body is not an RFC 5322 message (no header found)".into(),
        ));
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|addr| Some((addr.address()?, addr.name())))
        .ok_or_else(|| {
            EmailRefusal::Malformed("the email has no From header with an address".into())
        })?;
    let from = Mailbox {
        address: normalize_address(from.0, "From")?,
        name: from.1.map(str::to_owned),
    };
    let subject = clean_subject(message.subject());
    // Only a real HTML part: mail-parser renders a text-only mail as HTML too.
    let html = message
        .html_part(0)
        .filter(|part| part.is_content_type("text", "html"))
        .and_then(|part| part.text_contents())
        .map(str::to_owned);
    let text = match message.body_text(0) {
        // mail-parser renders a missing text part from the HTML; the HTML is read
        // here instead, so both dialects turn HTML into text the same way.
        Some(text) if message.text_body_count() > 0 && !is_html_only(&message) => text.into_owned(),
        _ => html.as_deref().map(html_to_text).unwrap_or_default(),
    };
    let date = message.header_raw("Date").unwrap_or_default().to_owned();
    let (message_id, generated) = match message.message_id().and_then(clean_message_id) {
        Some(id) => (id, false),
        None => (
            generated_message_id(&from.address, subject.as_deref(), &text, &date),
            true,
        ),
    };
    let mut envelope_to = Vec::new();
    for name in ["X-Original-To", "Delivered-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let Some(text) = value.as_text()
                && let Ok(address) = normalize_address(text, name)
                && !envelope_to.contains(&address)
            {
                envelope_to.push(address);
            }
        }
    }
    let mut attachments = Vec::new();
    for part in message.attachments() {
        // A forwarded message is an attachment too: its raw bytes, as a .eml file.
        let mime_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let inline = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
        let content = part.contents().to_vec();
        let name = part
            .attachment_name()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("attachment-{}", attachments.len() + 1));
        attachments.push(AttachmentData {
            name,
            mime_type,
            content_id: part.content_id().and_then(clean_message_id),
            inline,
            content,
        });
    }
    check_attachments(&attachments)?;
    Ok(InboundEmail {
        message_id,
        generated_message_id: generated,
        from,
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject,
        text,
        html,
        in_reply_to: newest_ids(ids(message.in_reply_to())),
        references: newest_ids(ids(message.references())),
        envelope_to,
        attachments,
        dialect: Dialect::Mime,
    })
}

/// Whether the message's only body is HTML (mail-parser then offers a text rendering
/// of it as the text body).
fn is_html_only(message: &mail_parser::Message<'_>) -> bool {
    message
        .text_part(0)
        .is_some_and(|part| part.is_content_type("text", "html"))
}

/// The addresses of a To or Cc header that are addresses (groups flattened), checked
/// and lower-cased; those that are not addresses are left out.
fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let checked = normalize_address(addr.address()?, "To").ok()?;
            Some(Mailbox {
                address: checked,
                name: addr.name().map(str::to_owned),
            })
        })
        .take(MAX_ADDRESSES)
        .collect()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => message_ids(id),
        HeaderValue::TextList(list) => list.iter().flat_map(|id| message_ids(id)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(body: &str) -> Vec<u8> {
        body.replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn a_plain_mail_gives_its_addresses_subject_text_and_ids() {
        let email = parse(&mail(
            "From: \"Ann Smith\" <Ann@Example.com>\n\
             To: support@shop.example, \"Bob\" <bob@shop.example>\n\
             Cc: boss@example.com\n\
             Subject: Where is my order?\n\
             Message-ID: <m1@example.com>\n\
             In-Reply-To: <q1@shop.example>\n\
             References: <q0@shop.example> <q1@shop.example>\n\
             Date: Mon, 7 Dec 2026 10:00:00 +0000\n\
             \n\
             Order 42 has not arrived.\n",
        ))
        .unwrap();
        assert_eq!(email.from.address, "ann@example.com");
        assert_eq!(email.from.name.as_deref(), Some("Ann Smith"));
        assert_eq!(
            email
                .to
                .iter()
                .map(|m| m.address.as_str())
                .collect::<Vec<_>>(),
            ["support@shop.example", "bob@shop.example"]
        );
        assert_eq!(email.cc[0].address, "boss@example.com");
        assert_eq!(email.subject.as_deref(), Some("Where is my order?"));
        assert_eq!(email.text.trim(), "Order 42 has not arrived.");
        assert_eq!(email.message_id, "m1@example.com");
        assert!(!email.generated_message_id);
        assert_eq!(email.in_reply_to, ["q1@shop.example"]);
        assert_eq!(email.references, ["q0@shop.example", "q1@shop.example"]);
        assert!(email.attachments.is_empty());
        assert_eq!(email.html, None, "a text-only mail has no HTML");
    }

    #[test]
    fn multipart_alternative_with_a_latin1_quoted_printable_text_and_an_attachment() {
        let email = parse(&mail(
            "From: kunde@example.de\n\
             To: service@shop.example\n\
             Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\n\
             Message-ID: <m2@example.de>\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=outer\n\
             \n\
             --outer\n\
             Content-Type: multipart/alternative; boundary=inner\n\
             \n\
             --inner\n\
             Content-Type: text/plain; charset=ISO-8859-1\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             Sch=F6ne Gr=FC=DFe\n\
             --inner\n\
             Content-Type: text/html; charset=utf-8\n\
             \n\
             <p>Sch\u{f6}ne Gr\u{fc}\u{df}e</p>\n\
             --inner--\n\
             --outer\n\
             Content-Type: application/pdf; name=\"rechnung.pdf\"\n\
             Content-Disposition: attachment; filename=\"rechnung.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0xLjQK\n\
             --outer--\n",
        ))
        .unwrap();
        assert_eq!(email.subject.as_deref(), Some("Grüße"));
        assert_eq!(email.text.trim(), "Schöne Grüße");
        assert!(email.html.unwrap().contains("<p>Schöne Grüße</p>"));
        assert_eq!(email.attachments.len(), 1);
        let pdf = &email.attachments[0];
        assert_eq!(
            (pdf.name.as_str(), pdf.mime_type.as_str(), pdf.inline),
            ("rechnung.pdf", "application/pdf", false)
        );
        assert_eq!(pdf.content, b"%PDF-1.4\n");
    }

    #[test]
    fn an_html_only_mail_gets_text_from_its_html_and_inline_images_are_kept() {
        let email = parse(&mail(
            "From: a@example.com\n\
             To: s@shop.example\n\
             Message-ID: <m3@example.com>\n\
             Content-Type: multipart/related; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/html\n\
             \n\
             <div>Hello<br>there</div><img src=\"cid:logo@x\">\n\
             --b\n\
             Content-Type: image/png\n\
             Content-ID: <logo@x>\n\
             Content-Disposition: inline\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             iVBORw0K\n\
             --b--\n",
        ))
        .unwrap();
        assert_eq!(email.text, "Hello\nthere");
        assert_eq!(email.attachments.len(), 1);
        assert!(email.attachments[0].inline);
        assert_eq!(email.attachments[0].content_id.as_deref(), Some("logo@x"));
    }

    #[test]
    fn a_mail_without_message_id_gets_a_stable_generated_one() {
        let raw = mail("From: a@example.com\nTo: s@shop.example\nSubject: x\n\nbody\n");
        let first = parse(&raw).unwrap();
        assert!(first.generated_message_id);
        assert_eq!(first.message_id, parse(&raw).unwrap().message_id);
    }

    #[test]
    fn what_is_not_an_email_is_refused_with_a_reason() {
        assert!(matches!(
            parse(b"just some text without headers"),
            Err(EmailRefusal::Malformed(_))
        ));
        assert!(matches!(
            parse(&mail("To: s@shop.example\nSubject: no sender\n\nx\n")),
            Err(EmailRefusal::Malformed(m)) if m.contains("From")
        ));
        assert!(matches!(parse(b""), Err(EmailRefusal::Malformed(_))));
    }

    #[test]
    fn envelope_headers_come_first_among_the_candidate_recipients() {
        let email = parse(&mail(
            "From: a@example.com\nTo: list@lists.example\nX-Original-To: Sales@Shop.example\n\
             Message-ID: <m4@x>\n\nbody\n",
        ))
        .unwrap();
        assert_eq!(
            email.candidate_recipients(),
            ["sales@shop.example", "list@lists.example"]
        );
    }
}
