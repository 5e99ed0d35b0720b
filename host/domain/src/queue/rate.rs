//! Seed 001's rate limits as a plain function: one text per second per sending number,
//! texts to one contact within the same second held back, and a cap on the wait.

use std::collections::HashMap;

/// One text per second per number (seed 001: "Each number can typically send one text
/// message per second").
pub const INTERVAL_MS: i64 = 1_000;

/// The next free moment of each sending number and contact, as stored in `rate_slots`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Slots(pub HashMap<String, i64>);

/// The `rate_slots` key of a sending number.
pub fn sender_key(number: &str) -> String {
    format!("from:{number}")
}

/// The `rate_slots` key of a contact.
pub fn contact_key(number: &str) -> String {
    format!("to:{number}")
}

/// When an entry may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// At this moment (ms since the epoch); now or later.
    At(i64),
    /// Only at this moment, which is more than the allowed wait after the entry was
    /// created: it fails instead of waiting.
    TooLate(i64),
}

/// Gives the next text from `sender` to `recipient` its slot and reserves it: the
/// first moment at or after `now` when both the number and the contact are free. An
/// entry that would wait more than `max_wait_ms` after `created_at` reserves nothing.
/// Entries must be assigned in queue order, so each number sends in that order.
pub fn assign(
    slots: &mut Slots,
    sender: &str,
    recipient: &str,
    created_at: i64,
    now: i64,
    max_wait_ms: i64,
) -> Slot {
    let (from, to) = (sender_key(sender), contact_key(recipient));
    let free = |key: &str| slots.0.get(key).copied().unwrap_or(i64::MIN);
    let at = now.max(free(&from)).max(free(&to));
    if at - created_at > max_wait_ms {
        return Slot::TooLate(at);
    }
    slots.0.insert(from, at + INTERVAL_MS);
    slots.0.insert(to, at + INTERVAL_MS);
    Slot::At(at)
}

/// The error description of an entry from `sender` that would only get its slot
/// `wait_ms` after it was created, more than `max_wait_seconds`. Both numbers are
/// shown as they are: a wait of 1.4 s against a 1 s cap must not read "1 s, more
/// than 1 s".
pub fn too_late(sender: &str, wait_ms: i64, max_wait_seconds: u64) -> String {
    format!(
        "{sender} would wait {} for its next free second, more than the SMS settings' \
         max_wait_seconds ({max_wait_seconds} s)",
        seconds(wait_ms)
    )
}

/// Milliseconds as seconds, with as many decimals as the milliseconds need: `1 s`,
/// `1.4 s`, `1.05 s`, `0.001 s`.
pub fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (whole, fraction) = (ms / 1_000, ms % 1_000);
    if fraction == 0 {
        return format!("{sign}{whole} s");
    }
    let decimals = format!("{fraction:03}");
    format!("{sign}{whole}.{} s", decimals.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn one_number_sends_one_text_a_second_in_order() {
        let mut slots = Slots::default();
        let got: Vec<Slot> = ["+1", "+2", "+3"]
            .iter()
            .map(|to| assign(&mut slots, "+100", to, 0, 5_000, HOUR))
            .collect();
        assert_eq!(
            got,
            [Slot::At(5_000), Slot::At(6_000), Slot::At(7_000)],
            "the rest wait as Queued, in order"
        );
    }

    #[test]
    fn numbers_do_not_wait_for_each_other() {
        let mut slots = Slots::default();
        assert_eq!(assign(&mut slots, "+100", "+1", 0, 0, HOUR), Slot::At(0));
        assert_eq!(assign(&mut slots, "+200", "+2", 0, 0, HOUR), Slot::At(0));
    }

    #[test]
    fn texts_to_one_contact_in_the_same_second_are_held_back() {
        let mut slots = Slots::default();
        assert_eq!(assign(&mut slots, "+100", "+1", 0, 0, HOUR), Slot::At(0));
        // Another number, same contact: held to the next second.
        assert_eq!(
            assign(&mut slots, "+200", "+1", 0, 10, HOUR),
            Slot::At(1_000)
        );
    }

    #[test]
    fn a_free_number_sends_at_once_after_a_pause() {
        let mut slots = Slots::default();
        assign(&mut slots, "+100", "+1", 0, 0, HOUR);
        assert_eq!(
            assign(&mut slots, "+100", "+2", 0, 9_000, HOUR),
            Slot::At(9_000)
        );
    }

    #[test]
    fn an_entry_that_would_wait_too_long_fails_and_reserves_nothing() {
        let mut slots = Slots::default();
        for to in 0..5 {
            assign(&mut slots, "+100", &format!("+{to}"), 0, 0, 10_000);
        }
        let before = slots.clone();
        // Created at 0, the number is busy until 5 s; a 2 s cap is exceeded.
        assert_eq!(
            assign(&mut slots, "+100", "+9", 0, 0, 2_000),
            Slot::TooLate(5_000)
        );
        assert_eq!(slots, before);
    }

    #[test]
    fn a_too_long_wait_is_described_with_its_real_numbers() {
        assert_eq!(
            too_late("+32470999999", 1_400, 1),
            "+32470999999 would wait 1.4 s for its next free second, more than the SMS \
             settings' max_wait_seconds (1 s)"
        );
        assert!(too_late("+1", 3_000, 2).contains("would wait 3 s for"));
    }

    #[test]
    fn seconds_keep_the_milliseconds_that_matter() {
        assert_eq!(seconds(1_000), "1 s");
        assert_eq!(seconds(1_400), "1.4 s");
        assert_eq!(seconds(1_050), "1.05 s");
        assert_eq!(seconds(1), "0.001 s");
        assert_eq!(seconds(0), "0 s");
        assert_eq!(seconds(-1_500), "-1.5 s");
    }
}
