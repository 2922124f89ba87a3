//! Basic authentication against bcrypt hashes (`basic_auth_users` of the web
//! configuration).
//!
//! A bcrypt check is meant to be slow (tens of milliseconds at cost 10), so
//! it is bounded: one check runs at a time, off the async threads, and each
//! outcome is remembered (by a SHA-256 of user, password and hash, never the
//! password) so that a scraper's every request after its first costs a
//! lookup. A flood of wrong passwords takes one core at most and never
//! delays a client whose credentials were checked before. An unknown user
//! is checked against a real hash too, so the answer's timing does not tell
//! which users exist.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result, bail};
use axum::http::HeaderValue;
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::digest::{SHA256, digest};
use tokio::sync::Semaphore;

/// Outcomes remembered; the memory is cleared when full.
const REMEMBERED: usize = 1024;

/// One bcrypt check at a time, in the whole process.
static BCRYPT: Semaphore = Semaphore::const_new(1);

/// The users and their bcrypt hashes, with the outcomes of past checks.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    outcomes: Arc<Mutex<HashMap<[u8; 32], bool>>>,
}

impl BasicAuth {
    /// Users and their bcrypt hashes; an error names a hash that is not one.
    pub fn new(users: BTreeMap<String, String>) -> Result<BasicAuth> {
        for (user, hash) in &users {
            if user.contains(':') {
                bail!("user {user:?}: a user name cannot hold ':'");
            }
            let parts: bcrypt::HashParts = hash.parse().with_context(|| {
                format!(
                    "user {user:?}: not a bcrypt hash (make one with `htpasswd -nBC 10 {user}`)"
                )
            })?;
            if parts.get_cost() > 16 {
                bail!(
                    "user {user:?}: bcrypt cost {} would take seconds per check; use 10 to 12",
                    parts.get_cost()
                );
            }
        }
        Ok(BasicAuth {
            users,
            outcomes: Arc::default(),
        })
    }

    /// How many users there are.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Whether the `Authorization` header names a user with the right
    /// password.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        // An unknown user is checked against some real hash, and fails.
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash.clone()),
            None => match self.users.values().next() {
                Some(hash) => (false, hash.clone()),
                None => return false,
            },
        };
        let key = outcome_key(&user, &password, &hash);
        if let Some(&allowed) = self
            .outcomes
            .lock()
            .ok()
            .and_then(|o| o.get(&key).copied())
            .as_ref()
        {
            return allowed && known;
        }
        let Ok(_turn) = BCRYPT.acquire().await else {
            return false;
        };
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if let Ok(mut outcomes) = self.outcomes.lock() {
            if outcomes.len() >= REMEMBERED {
                outcomes.clear();
            }
            outcomes.insert(key, matches);
        }
        matches && known
    }
}

/// The user and password of a `Basic` authorization header.
fn credentials(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What an outcome is remembered by.
fn outcome_key(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(user.len() + password.len() + hash.len() + 2);
    for part in [user, password, hash] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    let mut key = [0; 32];
    key.copy_from_slice(digest(&SHA256, &input).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn right_and_wrong_credentials() {
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let auth = BasicAuth::new([("alice".to_owned(), hash)].into()).unwrap();
        for _ in 0..2 {
            // The second time from what was remembered.
            assert!(
                auth.allows(Some(&header("alice", "s3cret:with:colons")))
                    .await
            );
            assert!(!auth.allows(Some(&header("alice", "wrong"))).await);
            assert!(
                !auth
                    .allows(Some(&header("bob", "s3cret:with:colons")))
                    .await
            );
        }
        assert!(!auth.allows(None).await);
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Bearer abc")))
                .await
        );
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Basic !!!")))
                .await
        );
    }

    #[test]
    fn hashes_are_checked_on_load() {
        let err = |hash: &str| {
            BasicAuth::new([("alice".to_owned(), hash.to_owned())].into())
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default()
        };
        assert!(err("plaintext").contains("not a bcrypt hash"));
        assert!(err(&bcrypt::hash("x", 4).unwrap()).is_empty());
        let hash = bcrypt::hash("x", 4).unwrap().replacen("$04$", "$31$", 1);
        assert!(err(&hash).contains("cost 31"));
    }

    #[test]
    fn credentials_are_parsed() {
        assert_eq!(
            credentials(&header("a", "b:c")),
            Some(("a".to_owned(), "b:c".to_owned()))
        );
        assert_eq!(credentials(&HeaderValue::from_static("basic")), None);
    }
}
