//! Agent sessions: the token an agent gets by logging in, how it is stored (only as a
//! SHA-256 digest, so a copy of the database logs nobody in), what a login request may
//! carry, and the rule that slows down guessing: after [`MAX_FAILURES`] failed logins
//! for one login within [`FAILURE_WINDOW_MS`], further attempts are refused until the
//! oldest of them leaves the window.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{MAX_LOGIN_CHARS, MAX_PASSWORD_CHARS};
use crate::acd_groups::FieldError;

/// Failed logins for one login that are tolerated within the window.
pub const MAX_FAILURES: usize = 5;
/// The window failed logins are counted in: 15 minutes.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1_000;

/// An agent's session token: 256 random bits, hex-encoded. Shown once, to the agent
/// who logged in; the server keeps only its [`SessionToken::digest`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        Self(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// The stored form of a presented token: SHA-256, hex. The token carries 256 random
/// bits, so a fast hash is enough (nothing to brute-force), and lookups by digest leak
/// nothing useful through timing.
pub fn digest(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// The body of `POST /agent-sessions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub login: String,
    pub password: String,
}

impl LoginInput {
    /// Refuses only what cannot be a login attempt at all (empty or oversized values);
    /// anything else is checked against the stored agents, with one answer for a wrong
    /// login and a wrong password.
    pub fn check(&self) -> Result<(), FieldError> {
        let within = |field: &'static str, text: &str, max: usize| {
            let chars = text.chars().count();
            if chars == 0 {
                Err(FieldError::new(field, "must not be empty"))
            } else if chars > max {
                Err(FieldError::new(
                    field,
                    format!("is {chars} characters long; at most {max} are allowed"),
                ))
            } else {
                Ok(())
            }
        };
        within("login", &self.login, MAX_LOGIN_CHARS)?;
        // No stored login holds one, and PostgreSQL refuses a NUL in any text it is
        // asked to compare: refused here, not failed there.
        if self.login.chars().any(char::is_control) {
            return Err(FieldError::new(
                "login",
                "must not contain control characters",
            ));
        }
        within("password", &self.password, MAX_PASSWORD_CHARS)
    }
}

/// Whether another login attempt may be made now, given the times (ms since the epoch)
/// of the failed attempts for that login: `None` if it may, otherwise the milliseconds
/// until it may (when fewer than [`MAX_FAILURES`] failures are left in the window).
pub fn retry_after(failures: &[i64], now: i64) -> Option<i64> {
    let mut recent: Vec<i64> = failures
        .iter()
        .copied()
        .filter(|at| now - at < FAILURE_WINDOW_MS)
        .collect();
    if recent.len() < MAX_FAILURES {
        return None;
    }
    recent.sort_unstable();
    // Once this one leaves the window, MAX_FAILURES - 1 remain.
    let freeing = recent[recent.len() - MAX_FAILURES];
    Some((freeing + FAILURE_WINDOW_MS - now).max(1))
}

/// [`retry_after`] in whole seconds, rounded up, for a `Retry-After` header.
pub fn retry_after_seconds(ms: i64) -> i64 {
    (ms + 999) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_are_stored_as_their_digest() {
        let token = SessionToken::generate();
        assert_eq!(token.as_str().len(), 64);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, SessionToken::generate());
        assert_eq!(token.digest(), digest(token.as_str()));
        assert_ne!(token.digest(), token.as_str());
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{token:?}"), "SessionToken(..)");
    }

    #[test]
    fn five_failures_in_fifteen_minutes_block_until_the_oldest_leaves_the_window() {
        let now = 100 * FAILURE_WINDOW_MS;
        let minute = 60_000;
        // Four failures: one more attempt is allowed.
        let four: Vec<i64> = (1..=4).map(|i| now - i * minute).collect();
        assert_eq!(retry_after(&four, now), None);
        // Five: blocked until the oldest (5 minutes ago) is 15 minutes old.
        let mut five = four.clone();
        five.push(now - 5 * minute);
        assert_eq!(retry_after(&five, now), Some(10 * minute));
        // Failures older than the window do not count.
        let mut old = four.clone();
        old.push(now - FAILURE_WINDOW_MS);
        assert_eq!(retry_after(&old, now), None);
        // Seven failures (1 to 7 minutes ago): blocked until only four are left, when
        // the one of 5 minutes ago leaves.
        let seven: Vec<i64> = (1..=7).map(|i| now - i * minute).collect();
        assert_eq!(retry_after(&seven, now), Some(10 * minute));
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(10 * minute), 600);
    }

    #[test]
    fn a_login_body_is_refused_only_when_empty_or_oversized() {
        let input = |login: &str, password: &str| LoginInput {
            login: login.into(),
            password: password.into(),
        };
        assert!(
            input("anna", "x").check().is_ok(),
            "short passwords are a 401"
        );
        assert!(input("not a login!", "x").check().is_ok());
        assert_eq!(input("", "x").check().unwrap_err().field, "login");
        assert_eq!(
            input(&"a".repeat(65), "x").check().unwrap_err().field,
            "login"
        );
        assert_eq!(
            input("anna", &"p".repeat(257)).check().unwrap_err().field,
            "password"
        );
    }
}
