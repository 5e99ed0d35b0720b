//! A small parser of the Prometheus/OpenMetrics text exposition, so tests can read
//! `/metrics` sample by sample (name, labels, value) and metric types, rather than
//! searching the text for substrings.

use std::collections::{BTreeMap, HashMap};

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: every sample, and each metric family's declared type.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: family name to `counter`, `gauge`, `histogram`, ...
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// Parses `text`; panics with the offending line on anything malformed, which is
    /// itself a failure of the endpoint under test.
    pub fn parse(text: &str) -> Self {
        let mut exposition = Self::default();
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE") {
                    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                        panic!("malformed TYPE line: {line}");
                    };
                    exposition.types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            exposition.samples.push(
                parse_sample(line).unwrap_or_else(|e| panic!("malformed sample `{line}`: {e}")),
            );
        }
        exposition
    }

    /// The value of the sample `name` whose labels are exactly `labels`; None if the
    /// exposition has no such sample.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Like [`Exposition::get`], with 0 for a sample not (yet) exposed: a labelled
    /// counter appears only once it has been counted.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// Every sample of `name`, whatever its labels.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name `{name}`"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("a label without `=`")?;
            let key = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("a label value that is not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("an unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("a dangling escape".into()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            labels.insert(key, value);
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    // The value, then an optional timestamp or exemplar (`# {...} v`), ignored here.
    let value_text = rest
        .split_whitespace()
        .next()
        .ok_or("no value after the labels")?;
    let value = match value_text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|e| format!("value `{v}`: {e}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_types_and_escaped_labels_are_read() {
        let text = "# HELP a_total Things.\n# TYPE a counter\na_total{k=\"v\",q=\"say \\\"hi\\\", ok\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nplain 1.5 1700000000\n# EOF\n";
        let e = Exposition::parse(text);
        assert_eq!(e.types["a"], "counter");
        assert_eq!(e.types["h"], "histogram");
        assert_eq!(
            e.get("a_total", &[("k", "v"), ("q", "say \"hi\", ok")]),
            Some(3.0)
        );
        assert_eq!(e.get("h_bucket", &[("le", "+Inf")]), Some(2.0));
        assert_eq!(e.get("plain", &[]), Some(1.5));
        assert_eq!(e.value("missing", &[]), 0.0);
    }
}
