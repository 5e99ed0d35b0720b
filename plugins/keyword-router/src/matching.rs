//! Keyword matching on word tokens, so "bill" matches "my bill" but not "billion".

use crate::settings::Group;

/// The lowercased runs of alphanumeric characters in `text`, in order.
///
/// `char::is_alphanumeric` is Unicode Alphabetic or Numeric, combining vowel signs
/// included, so a Hindi word stays one token. The JavaScript and Python editions test
/// the same properties (Python's own `isalnum` would miss those signs).
pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `needle` occurs as a contiguous run in `haystack`. An empty needle never does.
fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// The first group, in settings order, with a keyword (in list order) found in `body`,
/// together with that keyword as written in the settings.
pub fn find_match<'a>(groups: &'a [Group], body: &str) -> Option<(&'a Group, &'a str)> {
    let body = tokens(body);
    groups.iter().find_map(|group| {
        group
            .keywords
            .iter()
            .find(|keyword| contains_run(&body, &tokens(keyword)))
            .map(|keyword| (group, keyword.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, keywords: &[&str]) -> Group {
        Group {
            name: name.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            subject: None,
            priority: 0,
        }
    }

    fn matched(groups: &[Group], body: &str) -> Option<(String, String)> {
        find_match(groups, body).map(|(g, k)| (g.name.clone(), k.to_string()))
    }

    #[test]
    fn tokens_are_lowercased_alphanumeric_runs() {
        assert_eq!(
            tokens("My Direct-Debit failed!! (ref #42)"),
            ["my", "direct", "debit", "failed", "ref", "42"]
        );
        assert_eq!(tokens("ÜBER straße ΣΟΦΟΣ"), ["über", "straße", "σοφος"]);
        assert!(tokens(" -- !! ").is_empty());
    }

    #[test]
    fn keywords_match_whole_tokens_only() {
        let groups = [group("billing", &["bill"])];
        assert_eq!(
            matched(&groups, "Where is my BILL?"),
            Some(("billing".into(), "bill".into()))
        );
        assert_eq!(matched(&groups, "a billion thanks"), None);
    }

    #[test]
    fn phrases_match_as_contiguous_runs() {
        let groups = [group("billing", &["direct debit"])];
        assert!(matched(&groups, "my Direct-Debit failed").is_some());
        assert!(matched(&groups, "direct, debit").is_some());
        assert!(matched(&groups, "direct my debit").is_none());
        assert!(matched(&groups, "debit direct").is_none());
    }

    #[test]
    fn groups_then_keywords_are_tried_in_settings_order() {
        let groups = [
            group("billing", &["invoice", "help"]),
            group("support", &["broken", "help"]),
        ];
        assert_eq!(
            matched(&groups, "help, my invoice is broken"),
            Some(("billing".into(), "invoice".into()))
        );
        assert_eq!(
            matched(&groups, "help, it is broken"),
            Some(("billing".into(), "help".into()))
        );
    }

    #[test]
    fn a_keyword_without_tokens_never_matches() {
        let groups = [group("odd", &["", "--", "!!"])];
        assert_eq!(matched(&groups, "-- !!"), None);
        assert_eq!(matched(&groups, ""), None);
    }

    #[test]
    fn keywords_are_reported_as_written() {
        let groups = [group("billing", &["Direct Debit"])];
        assert_eq!(
            matched(&groups, "direct debit"),
            Some(("billing".into(), "Direct Debit".into()))
        );
    }
}
