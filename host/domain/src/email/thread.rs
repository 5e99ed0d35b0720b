//! Email threads: the Message-IDs of the emails the queue sends, the In-Reply-To and
//! References they carry so customers' mail clients thread them, and how an inbound
//! reply finds the conversation it belongs to.

/// What the queue's emails' Message-IDs start with; the entry number follows.
const QUEUE_PREFIX: &str = "switchyard-queue-";

/// The Message-ID (without angle brackets) of queue entry `number`, sent from
/// `domain`: made from the number, so a mail resent after a crash is the same mail,
/// and a reply to it names the entry it answers.
pub fn queue_message_id(number: i64, domain: &str) -> String {
    format!("{QUEUE_PREFIX}{number}@{domain}")
}

/// The queue entry a Message-ID names, if it is one of the queue's.
pub fn queue_entry_of(message_id: &str) -> Option<i64> {
    let (local, _) = message_id.split_once('@')?;
    local.strip_prefix(QUEUE_PREFIX)?.parse().ok()
}

/// The threading headers of an email that answers the email `answered` (its
/// Message-ID) whose own References were `references`: In-Reply-To names it, and
/// References extends its chain (RFC 5322 3.6.4), newest last, kept to the 20 newest so
/// a long thread does not grow every header.
pub fn reply_headers(answered: &str, references: &[String]) -> (String, String) {
    let mut chain: Vec<&str> = references
        .iter()
        .map(String::as_str)
        .filter(|id| *id != answered)
        .collect();
    chain.push(answered);
    let start = chain.len().saturating_sub(20);
    let references = chain[start..]
        .iter()
        .map(|id| format!("<{id}>"))
        .collect::<Vec<_>>()
        .join(" ");
    (format!("<{answered}>"), references)
}

/// `Re: <subject>`, without stacking a second `Re:` (in any case), as mail clients
/// answer.
pub fn reply_subject(subject: &str) -> String {
    if subject
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"))
    {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    }
}

/// The Message-IDs an inbound email names as its ancestors, nearest first, from the
/// attributes routing keeps of it (`in_reply_to`, then `references` newest first):
/// a client that rewrites In-Reply-To (Outlook does) still threads by References.
pub fn ancestors(attributes: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut ids: Vec<String> = Vec::new();
    for id in get("in_reply_to")
        .into_iter()
        .chain(get("references").into_iter().rev())
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_take_one_re_and_survive_any_first_letters() {
        assert_eq!(reply_subject("Grüße"), "Re: Grüße");
        assert_eq!(reply_subject("RE: x"), "RE: x");
        assert_eq!(reply_subject("ü"), "Re: ü");
    }

    #[test]
    fn ancestors_come_nearest_first() {
        let attributes = vec![
            ("in_reply_to".to_owned(), "rewritten@outlook".to_owned()),
            ("references".to_owned(), "a@x b@x".to_owned()),
        ];
        assert_eq!(ancestors(&attributes), ["rewritten@outlook", "b@x", "a@x"]);
        assert!(ancestors(&[]).is_empty());
    }

    #[test]
    fn queue_ids_name_their_entry() {
        let id = queue_message_id(42, "shop.example");
        assert_eq!(id, "switchyard-queue-42@shop.example");
        assert_eq!(queue_entry_of(&id), Some(42));
        assert_eq!(queue_entry_of("switchyard-queue-x@shop.example"), None);
        assert_eq!(queue_entry_of("abc@shop.example"), None);
    }

    #[test]
    fn a_reply_names_what_it_answers_and_extends_the_chain() {
        let (in_reply_to, references) =
            reply_headers("m3@x", &["m1@x".to_owned(), "m2@x".to_owned()]);
        assert_eq!(in_reply_to, "<m3@x>");
        assert_eq!(references, "<m1@x> <m2@x> <m3@x>");
        let long: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let (_, references) = reply_headers("last@x", &long);
        assert_eq!(references.split(' ').count(), 20);
        assert!(references.ends_with("<last@x>"));
    }
}
