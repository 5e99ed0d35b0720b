//! Agents' passwords, stored only as Argon2id hashes in PHC string form
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), with the `argon2` crate's default
//! parameters (19 MiB, 2 passes, 1 lane: OWASP's recommended minimum). The parameters
//! travel inside each hash, so raising them later still verifies old hashes.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose; callers on an
//! async executor run them on a blocking thread.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// A password hash as stored: a PHC string. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A stored hash read back from the database.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Hashes `password` with a fresh 128-bit salt.
pub fn hash(password: &str) -> PasswordHash {
    let salt: [u8; 16] = rand::random();
    let hashed = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        // Only a salt or output of the wrong length, or parameters out of range, fail;
        // all of them are fixed here.
        .unwrap_or_else(|e| unreachable!("argon2 with default parameters failed: {e}"));
    PasswordHash(hashed.to_string())
}

/// Whether `password` is the one `stored` was made from. A stored hash that does not
/// parse matches nothing.
pub fn verify(password: &str, stored: &PasswordHash) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored.as_str())
        .is_ok()
}

/// Verifies `password` against `stored`, or, when there is no such login, against a
/// hash of nothing anyone knows, made with the same parameters: an unknown login then
/// costs the same time as a wrong password, so timing does not tell which logins exist.
pub fn verify_or_waste(password: &str, stored: Option<&PasswordHash>) -> bool {
    match stored {
        Some(stored) => verify(password, stored),
        None => {
            verify(password, dummy());
            false
        }
    }
}

/// The hash [`verify_or_waste`] checks unknown logins against, made once per process.
pub fn dummy() -> &'static PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&hex::encode(rand::random::<[u8; 32]>())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_salted() {
        let a = hash("correct horse");
        assert!(
            a.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{a:?}"
        );
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsE", &a));
        assert_ne!(a, hash("correct horse"), "each hash has its own salt");
        assert_eq!(format!("{a:?}"), "PasswordHash(..)");
        assert!(!verify(
            "x",
            &PasswordHash::from_stored("not a hash".into())
        ));
    }

    #[test]
    fn unknown_logins_are_checked_against_a_hash_with_the_same_parameters() {
        let real = hash("correct horse");
        let params = |h: &PasswordHash| h.as_str().rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(params(dummy()), params(&real));
        assert!(!verify_or_waste("correct horse", None));
        assert!(verify_or_waste("correct horse", Some(&real)));
    }
}
