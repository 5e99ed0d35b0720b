//! Reading the token of an `Authorization: Bearer <token>` header, for every caller that
//! presents one: admins, agents, gateways, third parties and CometD clients.
//!
//! The scheme's name is case-insensitive (RFC 9110, section 11.1): `bearer` and
//! `BEARER` are `Bearer`. One function reads it, so no route is stricter than another.

use axum::http::{HeaderMap, header};

/// What an `Authorization` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>` (another scheme, no token, or not text).
    NotBearer,
    /// The token, without surrounding whitespace.
    Bearer(&'a str),
}

impl<'a> Authorization<'a> {
    /// The token, if there is one.
    pub fn token(self) -> Option<&'a str> {
        match self {
            Self::Bearer(token) => Some(token),
            Self::Missing | Self::NotBearer => None,
        }
    }
}

/// Reads the `Authorization` header of `headers`.
pub fn authorization(headers: &HeaderMap) -> Authorization<'_> {
    match headers.get(header::AUTHORIZATION) {
        None => Authorization::Missing,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .map_or(Authorization::NotBearer, Authorization::Bearer),
    }
}

/// The token of a header value `Bearer <token>`, the scheme in any case; `None` for
/// another scheme or an empty token.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_read_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc "] {
            assert_eq!(bearer_token(value), Some("abc"), "{value}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_not_bearer_tokens() {
        for value in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearerabc",
            "Bear abc",
            "",
        ] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn a_missing_header_is_told_from_a_wrong_one() {
        let mut headers = HeaderMap::new();
        assert_eq!(authorization(&headers), Authorization::Missing);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(authorization(&headers), Authorization::NotBearer);
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(authorization(&headers), Authorization::Bearer("abc"));
        assert_eq!(authorization(&headers).token(), Some("abc"));
    }
}
