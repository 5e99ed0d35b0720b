//! The one query-string contract of every listing: `after` (the cursor, a whole number,
//! not negative) and `limit` (1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent) on paged lists,
//! plus each list's own filters; anything else, a parameter given twice or a value that
//! does not parse is 400 `invalid_query` with `field` naming the parameter. Lists that
//! are not paged take no parameters at all, under the same rule.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// A page holds at most this many items; `limit` may ask for fewer.
pub const MAX_PAGE: i64 = 1_000;
pub const DEFAULT_PAGE: i64 = 100;

/// The answer's error for a bad query parameter `name`.
pub fn bad_query(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(name)
}

/// A listing's query, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only items after this id or number.
    pub after: Option<i64>,
    pub limit: i64,
    filters: Vec<(String, String)>,
}

impl ListQuery {
    /// Reads the query string of a paged list (`raw`, without `?`) that takes `filters`
    /// besides `after` and `limit`.
    pub fn paged(raw: Option<&str>, filters: &[&str]) -> Result<Self, ApiError> {
        let pairs = pairs(raw)?;
        let mut query = Self {
            after: None,
            limit: DEFAULT_PAGE,
            filters: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &pairs {
            if seen.contains(&name.as_str()) {
                return Err(bad_query(name, format!("`{name}` is given more than once")));
            }
            seen.push(name);
            match name.as_str() {
                "after" => {
                    let after = whole_number(name, value)?;
                    if after < 0 {
                        return Err(bad_query(name, "`after` must not be negative"));
                    }
                    query.after = Some(after);
                }
                "limit" => {
                    let limit = whole_number(name, value)?;
                    if !(1..=MAX_PAGE).contains(&limit) {
                        return Err(bad_query(
                            name,
                            format!("`limit` must be between 1 and {MAX_PAGE}, not {limit}"),
                        ));
                    }
                    query.limit = limit;
                }
                other if filters.contains(&other) => {
                    query.filters.push((name.clone(), value.clone()));
                }
                other => {
                    let mut known = vec!["after", "limit"];
                    known.extend_from_slice(filters);
                    return Err(bad_query(
                        other,
                        format!(
                            "unknown query parameter `{other}`; this list takes {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(query)
    }

    /// Checks the query string of a list that is not paged: it takes no parameters.
    pub fn unpaged(raw: Option<&str>) -> Result<(), ApiError> {
        match pairs(raw)?.first() {
            None => Ok(()),
            Some((name, _)) => Err(bad_query(
                name,
                format!(
                    "unknown query parameter `{name}`; this list is not paged and takes no \
                     parameters"
                ),
            )),
        }
    }

    /// A filter's value, if given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A filter that is an id.
    pub fn id_filter(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.filter(name).map(|v| whole_number(name, v)).transpose()
    }

    /// A filter that must be one of `allowed` and parses with `parse`.
    pub fn choice<T>(
        &self,
        name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        self.filter(name)
            .map(|v| {
                parse(v).ok_or_else(|| {
                    bad_query(
                        name,
                        format!("`{name}` must be one of {}, not `{v}`", allowed.join(", ")),
                    )
                })
            })
            .transpose()
    }

    /// A page of `items`, with the cursor of the next page when this one is full.
    pub fn page<T>(&self, items: Vec<T>, id: impl Fn(&T) -> i64) -> Page<T> {
        let next_after = if items.len() as i64 == self.limit {
            items.last().map(id)
        } else {
            None
        };
        Page { items, next_after }
    }
}

/// A page of items and the cursor for the next (`?after=`), `null` on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id or number of the last item when the page is full: the next page's `after`.
    #[schema(required)]
    pub next_after: Option<i64>,
}

/// The paging parameters as the OpenAPI document describes them; [`ListQuery::paged`]
/// reads them.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Paging {
    /// Only items after this id or number: the previous page's `next_after`.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many items (1 to 1,000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("the query string is not form-encoded: {e}"),
            )
        })?;
    // No stored value holds NUL, and PostgreSQL refuses it in any text it is asked to
    // compare, which would fail the whole query instead of matching nothing.
    if let Some((name, _)) = pairs.iter().find(|(_, value)| value.contains('\0')) {
        return Err(bad_query(
            name,
            format!("`{name}` must not contain NUL (%00)"),
        ));
    }
    Ok(pairs)
}

fn whole_number(name: &str, value: &str) -> Result<i64, ApiError> {
    value.parse().map_err(|_| {
        bad_query(
            name,
            format!("`{name}` must be a whole number, not `{value}`"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ApiError) -> String {
        match e {
            ApiError::Client {
                status,
                code,
                field,
                ..
            } => {
                assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_query"));
                field.unwrap_or_default()
            }
            ApiError::Internal(e) => panic!("{e}"),
        }
    }

    #[test]
    fn paging_has_defaults_and_limits() {
        let q = ListQuery::paged(None, &[]).unwrap();
        assert_eq!((q.after, q.limit), (None, DEFAULT_PAGE));
        let q = ListQuery::paged(Some("after=5&limit=1000&state=queued"), &["state"]).unwrap();
        assert_eq!((q.after, q.limit), (Some(5), 1_000));
        assert_eq!(q.filter("state"), Some("queued"));
        for bad in ["limit=0", "limit=1001", "limit=x", "limit=-1", "limit="] {
            assert_eq!(
                field(ListQuery::paged(Some(bad), &[]).unwrap_err()),
                "limit"
            );
        }
        for bad in ["after=x", "after=-1", "after=1&after=2", "after=%00"] {
            assert_eq!(
                field(ListQuery::paged(Some(bad), &[]).unwrap_err()),
                "after"
            );
        }
    }

    #[test]
    fn unknown_parameters_are_refused_by_name() {
        assert_eq!(
            field(ListQuery::paged(Some("colour=red"), &["state"]).unwrap_err()),
            "colour"
        );
        assert_eq!(
            field(ListQuery::unpaged(Some("limit=5")).unwrap_err()),
            "limit"
        );
        assert!(ListQuery::unpaged(Some("")).is_ok());
    }

    #[test]
    fn nul_is_refused_in_any_value() {
        let q = ListQuery::paged(Some("recipient=a%00b"), &["recipient"]);
        assert_eq!(field(q.unwrap_err()), "recipient");
    }

    #[test]
    fn filters_are_checked() {
        let q = ListQuery::paged(Some("acd_group=x&state=lost"), &["acd_group", "state"]).unwrap();
        assert_eq!(field(q.id_filter("acd_group").unwrap_err()), "acd_group");
        let parse = |s: &str| (s == "queued").then_some(1);
        assert_eq!(
            field(q.choice("state", &["queued"], parse).unwrap_err()),
            "state"
        );
        assert_eq!(q.choice("media", &["sms"], parse).unwrap(), None);
    }
}
