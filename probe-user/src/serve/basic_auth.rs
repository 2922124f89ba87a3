//! Basic authentication against bcrypt hashes (`basic_auth_users` of the web
//! configuration).
//!
//! A bcrypt check is meant to be slow (tens of milliseconds at cost 10), so
//! it is bounded: one check runs at a time, off the async threads, and at
//! most [`QUEUED`] requests wait for their turn; one more is answered 401 at
//! once (a flood of wrong passwords takes one core and a handful of
//! connections at most, and never the connection slots `/healthz` needs).
//! A user's last good password is remembered (as an HMAC under a key made at
//! start, never the password), so a scraper pays for its check once and
//! never waits behind a flood. An unknown user is checked against a real
//! hash too, so the answer's timing does not tell which users exist.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::{Context, Result, anyhow, bail};
use axum::http::HeaderValue;
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{hmac, rand::SystemRandom};
use tokio::sync::Semaphore;

/// Requests that may wait for a bcrypt check; more are refused at once.
const QUEUED: usize = 4;

/// One bcrypt check at a time, in the whole process.
static BCRYPT: Semaphore = Semaphore::const_new(1);

/// Requests waiting for, or in, a bcrypt check.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// The users and their bcrypt hashes, with each user's last good password.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Keys the remembered passwords.
    key: hmac::Key,
    /// Per user, the HMAC of the last password its hash accepted.
    accepted: Mutex<HashMap<String, hmac::Tag>>,
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
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| anyhow!("no random key for remembering passwords"))?;
        Ok(BasicAuth {
            users,
            key,
            accepted: Mutex::default(),
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
        let remembered = self
            .accepted
            .lock()
            .ok()
            .and_then(|accepted| accepted.get(&user).cloned());
        if let Some(tag) = remembered
            && hmac::verify(&self.key, password.as_bytes(), tag.as_ref()).is_ok()
        {
            return known;
        }
        let matches = verify_in_turn(password.clone(), hash).await;
        if matches
            && known
            && let Ok(mut accepted) = self.accepted.lock()
        {
            accepted.insert(user, hmac::sign(&self.key, password.as_bytes()));
        }
        matches && known
    }
}

/// A bcrypt check in its turn, on a blocking thread that holds the turn
/// until it is done (even if the request is gone); false at once when
/// [`QUEUED`] requests already wait.
async fn verify_in_turn(password: String, hash: String) -> bool {
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::Relaxed);
        }
    }
    if WAITING.fetch_add(1, Ordering::Relaxed) > QUEUED {
        WAITING.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    let waiting = Waiting;
    let Ok(turn) = BCRYPT.acquire().await else {
        return false;
    };
    let check = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let _waiting = waiting;
        bcrypt::verify(password, &hash).unwrap_or(false)
    });
    check.await.unwrap_or(false)
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
