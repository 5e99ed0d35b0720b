//! The communication queue at work: the [`processor::Processor`] claims due entries
//! and hands them to the host's own senders (SMTP, SMS gateway plugins) or leaves them
//! to external systems. The queue's rules are in `switchyard_domain::queue`.

pub mod email;
pub mod processor;
pub mod sms;

/// An error with its sources, each added only if the text so far does not already
/// hold it (lettre and reqwest repeat their source in their own message).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}
