//! Sends an email queue entry through the configured SMTP server with lettre.

use std::time::Duration;

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::email::thread;
use crate::domain::queue::EntryRecord;
use crate::domain::queue::settings::{EmailSettings, TlsMode};

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailError {
    /// The SMTP reply code (`550`), or `SMTP-CONNECT` / `SMTP-MESSAGE` when the server
    /// never answered or the message could not be built.
    pub code: String,
    pub description: String,
    /// A 4xx reply or a connection problem: the same message may go through later.
    pub transient: bool,
    /// Whether the server answered at all (then the message was refused, not unsent).
    pub answered: bool,
}

/// The SMTP connection described by `settings`.
pub fn transport(
    settings: &EmailSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let host = settings.host.as_str();
    let tls = |required: bool| {
        TlsParameters::new(host.to_owned())
            .map(|p| {
                if required {
                    Tls::Wrapper(p)
                } else {
                    Tls::Required(p)
                }
            })
            .map_err(|e| EmailError {
                code: "SMTP-TLS".into(),
                description: format!("cannot set up TLS for {host}: {e}"),
                transient: false,
                answered: false,
            })
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.port)
        .timeout(Some(Duration::from_secs(settings.timeout_seconds)))
        .tls(match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => tls(false)?,
            TlsMode::Tls => tls(true)?,
        });
    let builder = match (&settings.username, &settings.password) {
        (Some(user), Some(password)) => {
            builder.credentials(Credentials::new(user.clone(), password.clone()))
        }
        _ => builder,
    };
    Ok(builder.build())
}

/// The MIME message for `entry`: plain UTF-8 text, with a Message-ID made from the
/// entry number so a mail resent after a crash can be recognised as the same one.
/// `thread`: the In-Reply-To and References of an email answering another
/// ([`crate::domain::email::thread::reply_headers`]), so the customer's client threads it.
pub fn message(
    entry: &EntryRecord,
    settings: &EmailSettings,
    thread: Option<(String, String)>,
    attachments: &[(String, String, Vec<u8>)],
) -> Result<Message, EmailError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| EmailError {
        code: "SMTP-MESSAGE".into(),
        description: format!("{what}: {e}"),
        transient: false,
        answered: false,
    };
    let c = &entry.communication;
    let from: Mailbox = c.sender.parse().map_err(|e| invalid("sender", &e))?;
    let to: Mailbox = c.recipient.parse().map_err(|e| invalid("recipient", &e))?;
    let domain = c
        .sender
        .rsplit_once('@')
        .map_or(settings.host.as_str(), |(_, d)| d);
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(c.subject.clone().unwrap_or_default())
        .message_id(Some(format!(
            "<{}>",
            thread::queue_message_id(entry.number, domain)
        )));
    if let Some((in_reply_to, references)) = thread {
        builder = builder.in_reply_to(in_reply_to).references(references);
    }
    if attachments.is_empty() {
        return builder
            .header(ContentType::TEXT_PLAIN)
            .body(c.body.clone())
            .map_err(|e| invalid("message", &e));
    }
    // The text first, then each attachment an agent linked, as mail clients expect.
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(c.body.clone()));
    for (name, mime, bytes) in attachments {
        let content_type = ContentType::parse(mime)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
        parts = parts.singlepart(Attachment::new(name.clone()).body(bytes.clone(), content_type));
    }
    builder.multipart(parts).map_err(|e| invalid("message", &e))
}

/// Sends `entry` once; the caller decides about retries.
pub async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: Message,
) -> Result<String, EmailError> {
    match transport.send(message).await {
        Ok(response) => Ok(format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        )
        .trim()
        .to_owned()),
        Err(e) => {
            let answered = e.status().is_some();
            Err(EmailError {
                code: e
                    .status()
                    .map_or_else(|| "SMTP-CONNECT".to_owned(), |code| code.to_string()),
                description: super::error_chain(&e),
                transient: e.is_transient() || !answered,
                answered,
            })
        }
    }
}
