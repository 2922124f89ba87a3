//! Basic authentication against bcrypt hashes (`basic_auth_users` of the web
//! configuration).
//!
//! A bcrypt check is meant to be slow (tens of milliseconds at cost 10), so
//! it is bounded: one check runs at a time, off the async threads, and at
//! most one request from any one client address waits for its turn, in one
//! of two lines of at most [`QUEUED`]: addresses whose last check failed
//! (remembered for the last [`SUSPECTS`] of them) wait behind the others,
//! which are served first. One more is answered 503 at once, "busy", never
//! 401: its password was not checked (a flood of wrong passwords takes one
//! core and a handful of connections at most, never the connection slots
//! `/healthz` needs; from one address, one place in a line; from many,
//! each address once in the first line, then behind a scraper that has not
//! failed).
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
    sync::{LazyLock, Mutex, PoisonError},
};

use anyhow::{Context, Result, anyhow, bail};
use axum::http::HeaderValue;
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{hmac, rand::SystemRandom};
use tokio::sync::oneshot;

/// Requests that may wait for a bcrypt check in each line; more are
/// refused at once.
const QUEUED: usize = 4;

/// Client addresses whose last check failed, remembered; past it, the
/// oldest half is forgotten.
const SUSPECTS: usize = 4096;

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

/// Whose turn the one bcrypt check of the process is.
static TURNS: Mutex<Turns> = Mutex::new(Turns {
    busy: false,
    first: VecDeque::new(),
    behind: VecDeque::new(),
    from: Vec::new(),
});

/// Client addresses whose last check failed.
static SUSPECT: LazyLock<Mutex<Bounded<IpAddr>>> = LazyLock::new(Mutex::default);

/// The check's turn and the requests waiting for it.
struct Turns {
    /// Whether a check runs (its [`Turn`] is held).
    busy: bool,
    /// Waiting, from addresses whose last check did not fail.
    first: VecDeque<oneshot::Sender<Turn>>,
    /// Waiting, from addresses whose last check failed.
    behind: VecDeque<oneshot::Sender<Turn>>,
    /// The client addresses waiting or checked now.
    from: Vec<IpAddr>,
}

/// The right to run the check; dropped, it goes to the next request
/// waiting (the first line's first), or back to no one.
struct Turn;

impl Drop for Turn {
    fn drop(&mut self) {
        TURNS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hand_on();
    }
}

impl Turns {
    /// Gives the turn to the next request waiting, the first line's first;
    /// with none, the check is free.
    fn hand_on(&mut self) {
        loop {
            let Some(next) = self.first.pop_front().or_else(|| self.behind.pop_front()) else {
                self.busy = false;
                return;
            };
            match next.send(Turn) {
                Ok(()) => return,
                // Its request is gone: the next one's. The turn made for it
                // must not hand itself on again (the lock is held).
                Err(turn) => std::mem::forget(turn),
            }
        }
    }
}
/// The users and their bcrypt hashes, with each user's last good password.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Keys the remembered passwords.
    key: hmac::Key,
    /// Per user, the HMAC of the last password its hash accepted.
    accepted: Mutex<HashMap<String, hmac::Tag>>,
    /// HMACs of wrong `user:password` pairs.
    refused: Mutex<Bounded<Vec<u8>>>,
}

/// A set that remembers its last [`SUSPECTS`] or [`REFUSED`] members: a
/// set to look them up, and a queue to forget the oldest half at the bound.
struct Bounded<T> {
    members: HashSet<T>,
    oldest_first: VecDeque<T>,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Self {
            members: HashSet::new(),
            oldest_first: VecDeque::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Bounded<T> {
    fn contains(&self, member: &T) -> bool {
        self.members.contains(member)
    }

    /// Remembers `member`, forgetting the oldest half when `bound` are.
    fn insert(&mut self, member: T, bound: usize) {
        if self.oldest_first.len() >= bound {
            for old in self.oldest_first.drain(..bound / 2) {
                self.members.remove(&old);
            }
        }
        if self.members.insert(member.clone()) {
            self.oldest_first.push_back(member);
        }
    }

    fn remove(&mut self, member: &T) {
        if self.members.remove(member) {
            self.oldest_first.retain(|m| m != member);
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
            .is_ok_and(|refused| refused.contains(&pair))
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
            refused.insert(pair, REFUSED);
        }
        Access::Denied
    }
}

/// A bcrypt check in its turn, on a blocking thread that holds the turn
/// until it is done (even if the request is gone); none at once when a
/// request from `client` already waits, or its line is full. A failed
/// check puts `client` in the line behind, a good one takes it out.
async fn verify_in_turn(password: String, hash: String, client: IpAddr) -> Option<bool> {
    /// `client` waits or is checked: no second request of its waits.
    struct Waiting(IpAddr);
    impl Drop for Waiting {
        fn drop(&mut self) {
            let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = turns.from.iter().position(|ip| *ip == self.0) {
                turns.from.swap_remove(at);
            }
        }
    }
    let suspect = SUSPECT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&client);
    let queued = {
        let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
        if turns.from.contains(&client) {
            return None;
        }
        let queued = if turns.busy {
            let line = if suspect {
                &mut turns.behind
            } else {
                &mut turns.first
            };
            if line.len() >= QUEUED {
                return None;
            }
            let (send, receive) = oneshot::channel();
            line.push_back(send);
            Some(receive)
        } else {
            turns.busy = true;
            None
        };
        turns.from.push(client);
        queued
    };
    let waiting = Waiting(client);
    let turn = match queued {
        Some(receive) => receive.await.ok()?,
        None => Turn,
    };
    let check = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let _waiting = waiting;
        bcrypt::verify(password, &hash).unwrap_or(false)
    });
    let matches = check.await.unwrap_or(false);
    let mut suspects = SUSPECT.lock().unwrap_or_else(PoisonError::into_inner);
    if matches {
        suspects.remove(&client);
    } else {
        suspects.insert(client, SUSPECTS);
    }
    Some(matches)
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
        let held = take_the_turn().await;
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
        // CLIENT failed before: the other address's check goes first.
        drop(held);
        assert_eq!(elsewhere.await, Access::Denied);
        assert_eq!(waiting.await, Access::Denied);
    }

    /// The check's turn, as a check in progress holds it.
    async fn take_the_turn() -> Turn {
        let receive = {
            let mut turns = TURNS.lock().unwrap();
            if !turns.busy {
                turns.busy = true;
                return Turn;
            }
            let (send, receive) = oneshot::channel();
            turns.first.push_back(send);
            receive
        };
        receive.await.unwrap()
    }

    /// The turn goes to a request from an address that has not failed
    /// before one from an address that has, whichever came first; past a
    /// request gone, to the next.
    #[test]
    fn the_first_line_goes_first() {
        let mut turns = Turns {
            busy: true,
            first: VecDeque::new(),
            behind: VecDeque::new(),
            from: Vec::new(),
        };
        let (suspect, mut suspect_waits) = oneshot::channel();
        turns.behind.push_back(suspect);
        let (gone, gone_waits) = oneshot::channel();
        turns.first.push_back(gone);
        drop(gone_waits);
        let (fresh, mut fresh_waits) = oneshot::channel();
        turns.first.push_back(fresh);
        turns.hand_on();
        // (The turns given here are not the process's: forgotten, not dropped.)
        std::mem::forget(fresh_waits.try_recv().expect("the first line's turn"));
        assert!(suspect_waits.try_recv().is_err());
        turns.hand_on();
        std::mem::forget(suspect_waits.try_recv().expect("then the line behind"));
        turns.hand_on();
        assert!(!turns.busy, "no one waits: the check is free");
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
    fn remembered_sets_are_bounded() {
        let mut refused = Bounded::default();
        for n in 0..REFUSED as u32 + 10 {
            refused.insert(n, REFUSED);
        }
        assert_eq!(refused.members.len(), refused.oldest_first.len());
        assert!(refused.members.len() <= REFUSED);
        assert!(!refused.contains(&0));
        assert!(refused.contains(&(REFUSED as u32 + 9)));
        refused.remove(&(REFUSED as u32 + 9));
        assert!(!refused.contains(&(REFUSED as u32 + 9)));
        assert_eq!(refused.members.len(), refused.oldest_first.len());
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
