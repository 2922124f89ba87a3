//! Basic authentication against bcrypt hashes (`basic_auth_users` of the web
//! configuration).
//!
//! A bcrypt check is meant to be slow (tens of milliseconds at cost 10), so
//! it is bounded: one check runs at a time, off the async threads, and at
//! most [`QUEUED`] requests wait for their turn, at most one of them from
//! any one client address; one more is answered 503 at once, "busy", never
//! 401: its password was not checked (a flood of wrong passwords takes one
//! core and a handful of connections at most, never the connection slots
//! `/healthz` needs, and from one address, one place in the queue: a
//! scraper elsewhere still gets its turn).
//! A user's last good password is remembered (as an HMAC under a key made at
//! start, never the password), so a scraper pays for its check once and
//! never waits behind a flood. The last [`REFUSED`] wrong (user, password)
//! pairs are remembered the same way and refused without a check, so a
//! flood that repeats its passwords takes no turn from a right password not
//! yet remembered (an agent's restart, a changed password, a new Prometheus
//! replica). An unknown user is checked against a real hash too, so the
//! answer's timing does not tell which users exist (a pair refused before
//! is answered at once whether its user exists or not).

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    net::IpAddr,
    sync::{
        Mutex, PoisonError,
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

/// Wrong (user, password) pairs remembered; past it, the oldest half is
/// forgotten.
const REFUSED: usize = 4096;

/// What a request's credentials come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A user with the right password.
    Allowed,
    /// No credentials, an unknown user or a wrong password.
    Denied,
    /// Not checked: too many requests wait for a check (answer 503).
    Busy,
}

/// One bcrypt check at a time, in the whole process.
static BCRYPT: Semaphore = Semaphore::const_new(1);

/// Requests waiting for, or in, a bcrypt check.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// The client addresses that have a request waiting for, or in, a check.
static WAITING_FROM: Mutex<Vec<IpAddr>> = Mutex::new(Vec::new());

/// The users and their bcrypt hashes, with each user's last good password.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Keys the remembered passwords.
    key: hmac::Key,
    /// Per user, the HMAC of the last password its hash accepted.
    accepted: Mutex<HashMap<String, hmac::Tag>>,
    /// HMACs of wrong `user:password` pairs.
    refused: Mutex<Refused>,
}

/// Wrong pairs' HMACs, a set to look them up and a queue to forget the
/// oldest.
#[derive(Default)]
struct Refused {
    tags: HashSet<Vec<u8>>,
    oldest_first: VecDeque<Vec<u8>>,
}

impl Refused {
    /// Remembers `tag`, forgetting the oldest half when [`REFUSED`] are.
    fn insert(&mut self, tag: Vec<u8>) {
        if self.oldest_first.len() >= REFUSED {
            for old in self.oldest_first.drain(..REFUSED / 2) {
                self.tags.remove(&old);
            }
        }
        if self.tags.insert(tag.clone()) {
            self.oldest_first.push_back(tag);
        }
    }
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
            refused: Mutex::default(),
        })
    }

    /// How many users there are.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Whether the `Authorization` header of a request from `client` names
    /// a user with the right password, or cannot be checked now.
    pub async fn allows(&self, authorization: Option<&HeaderValue>, client: IpAddr) -> Access {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Access::Denied;
        };
        // An unknown user is checked against some real hash, and fails.
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash.clone()),
            None => match self.users.values().next() {
                Some(hash) => (false, hash.clone()),
                None => return Access::Denied,
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
            return if known {
                Access::Allowed
            } else {
                Access::Denied
            };
        }
        // `user:password` cannot be another pair's: a user has no ':'.
        let pair = hmac::sign(&self.key, format!("{user}:{password}").as_bytes())
            .as_ref()
            .to_vec();
        if self
            .refused
            .lock()
            .is_ok_and(|refused| refused.tags.contains(&pair))
        {
            return Access::Denied;
        }
        let Some(matches) = verify_in_turn(password.clone(), hash, client).await else {
            return Access::Busy;
        };
        if matches && known {
            if let Ok(mut accepted) = self.accepted.lock() {
                accepted.insert(user, hmac::sign(&self.key, password.as_bytes()));
            }
            return Access::Allowed;
        }
        if let Ok(mut refused) = self.refused.lock() {
            refused.insert(pair);
        }
        Access::Denied
    }
}

/// A bcrypt check in its turn, on a blocking thread that holds the turn
/// until it is done (even if the request is gone); none at once when
/// [`QUEUED`] requests already wait, or one from `client` does.
async fn verify_in_turn(password: String, hash: String, client: IpAddr) -> Option<bool> {
    struct Waiting(IpAddr);
    impl Drop for Waiting {
        fn drop(&mut self) {
            let mut from = WAITING_FROM.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = from.iter().position(|ip| *ip == self.0) {
                from.swap_remove(at);
            }
            WAITING.fetch_sub(1, Ordering::Relaxed);
        }
    }
    {
        let mut from = WAITING_FROM.lock().unwrap_or_else(PoisonError::into_inner);
        if from.contains(&client) {
            return None;
        }
        if WAITING.fetch_add(1, Ordering::Relaxed) > QUEUED {
            WAITING.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        from.push(client);
    }
    let waiting = Waiting(client);
    let Ok(turn) = BCRYPT.acquire().await else {
        return None;
    };
    let check = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let _waiting = waiting;
        bcrypt::verify(password, &hash).unwrap_or(false)
    });
    Some(check.await.unwrap_or(false))
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

    /// The address the tests' requests come from.
    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[tokio::test]
    async fn right_and_wrong_credentials() {
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let auth = BasicAuth::new([("alice".to_owned(), hash)].into()).unwrap();
        // Not the other tests' address: one request per address waits.
        let client = IpAddr::from([127, 0, 0, 3]);
        let allows = async |header: Option<&HeaderValue>| auth.allows(header, client).await;
        for _ in 0..2 {
            // The second time from what was remembered.
            assert_eq!(
                allows(Some(&header("alice", "s3cret:with:colons"))).await,
                Access::Allowed
            );
            assert_eq!(
                allows(Some(&header("alice", "wrong"))).await,
                Access::Denied
            );
            assert_eq!(
                allows(Some(&header("bob", "s3cret:with:colons"))).await,
                Access::Denied
            );
        }
        assert_eq!(allows(None).await, Access::Denied);
        assert_eq!(
            allows(Some(&HeaderValue::from_static("Bearer abc"))).await,
            Access::Denied
        );
        assert_eq!(
            allows(Some(&HeaderValue::from_static("Basic !!!"))).await,
            Access::Denied
        );
    }

    /// A wrong pair is refused the second time without a bcrypt check:
    /// even with every check's turn taken, it is refused at once (401, not
    /// 503), while a pair never seen must wait for its turn.
    #[tokio::test]
    async fn a_wrong_password_once_refused_takes_no_turn() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let auth = BasicAuth::new([("alice".to_owned(), hash)].into()).unwrap();
        let wrong = header("alice", "wrong");
        assert_eq!(auth.allows(Some(&wrong), CLIENT).await, Access::Denied);
        let held = BCRYPT.acquire().await.unwrap();
        let repeated = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            auth.allows(Some(&wrong), CLIENT),
        )
        .await;
        assert_eq!(repeated, Ok(Access::Denied));
        let unseen = header("alice", "another");
        let waiting = auth.allows(Some(&unseen), CLIENT);
        tokio::pin!(waiting);
        assert!(poll_once(waiting.as_mut()).await.is_none());
        // From the same address, no second place in the queue; from
        // another, one.
        let second = header("alice", "a third");
        assert_eq!(auth.allows(Some(&second), CLIENT).await, Access::Busy);
        let elsewhere = auth.allows(Some(&second), IpAddr::from([127, 0, 0, 2]));
        tokio::pin!(elsewhere);
        assert!(poll_once(elsewhere.as_mut()).await.is_none());
        drop(held);
        assert_eq!(waiting.await, Access::Denied);
        assert_eq!(elsewhere.await, Access::Denied);
    }

    /// Polls `future` once: its output if it is ready.
    async fn poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn refused_pairs_are_bounded() {
        let mut refused = Refused::default();
        for n in 0..REFUSED as u32 + 10 {
            refused.insert(n.to_le_bytes().to_vec());
        }
        assert_eq!(refused.tags.len(), refused.oldest_first.len());
        assert!(refused.tags.len() <= REFUSED);
        assert!(!refused.tags.contains(0u32.to_le_bytes().as_slice()));
        assert!(
            refused
                .tags
                .contains((REFUSED as u32 + 9).to_le_bytes().as_slice())
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
