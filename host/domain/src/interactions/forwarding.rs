//! SMS forwarded as email to agents who take SMS that way (seed 002's user setting):
//! what the email says.

/// The email's subject: the interaction's subject, or who the SMS is from.
pub fn forwarded_subject(subject: Option<&str>, sender: &str) -> String {
    match subject {
        Some(subject) if !subject.trim().is_empty() => format!("SMS: {subject}"),
        _ => format!("SMS from {sender}"),
    }
}

/// The email's text: the SMS, who sent it, and the interaction it belongs to.
pub fn forwarded_body(sender: &str, text: &str, interaction: i64) -> String {
    format!("{text}\n\n--\nSMS from {sender} (interaction {interaction})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_names_the_sender_and_carries_the_text() {
        assert_eq!(forwarded_subject(None, "+49151"), "SMS from +49151");
        assert_eq!(forwarded_subject(Some(" "), "+49151"), "SMS from +49151");
        assert_eq!(forwarded_subject(Some("Billing"), "+49151"), "SMS: Billing");
        let body = forwarded_body("+49151", "Hallo", 7);
        assert!(body.starts_with("Hallo\n"));
        assert!(body.contains("SMS from +49151 (interaction 7)"));
    }
}
