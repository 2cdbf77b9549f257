//! Unique values when the unique index lives in another hash slot than the instances: a model
//! with several buckets, on a cluster. No script can check the index and write the instance at
//! once there, so a unique value is claimed in steps, each one script in one slot:
//!
//! 1. **reserve** (index slot): the value gets a pending claim for the pk, with a random token
//!    and a deadline (server time + the client's lease). A live pending claim of another pk is a
//!    [`Error::UniqueViolation`]. A committed claim of another pk, or an expired pending one, is
//!    checked against the holder's instance: if the holder has the value, an expired claim is
//!    committed for it and the writer gets the violation; if not, the claim is taken over (a
//!    compare-and-set on the whole record, so a claim that changed meanwhile is looked at again).
//! 2. **write** (instance slot): the instance's script, which refuses to write once the server
//!    time passes the deadline minus a margin (a quarter of the lease), so a late write cannot
//!    land after a takeover.
//! 3. **confirm** (index slot): the pending claim, if still ours, becomes committed.
//! 4. **release** (index slot): the old value, if it changed, is deleted when its claim still
//!    names the pk and is committed.
//!
//! Uniqueness holds at every crash point:
//!
//! | crash after | left behind | how it heals |
//! |---|---|---|
//! | reserve | a pending claim, no instance has the value | after the deadline, the next writer finds the holder without the value and takes the claim over |
//! | write | the instance has the value, its claim is pending | before the deadline others get a violation; after it, the next writer finds the holder with the value, commits the claim for it, and gets a violation |
//! | confirm | the old value's claim still names the pk | the next writer of that value finds the holder without it and takes it over |
//! | (write delayed past the deadline) | nothing | the write is refused; the claim is given back |
//!
//! Readers verify too: a unique lookup answers a pk only if that instance holds the value. The
//! safety of the deadline assumes the nodes' clocks differ by less than the margin.

use std::time::Duration;

use redis::Value;

use crate::client::Client;
use crate::conn::{Call, ClaimFault, Effect};
use crate::error::{Error, Result};
use crate::meta::{IndexKind, IndexMeta, ModelMeta};
use crate::reply;
use crate::scripts;

/// True when `meta`'s unique indexes live apart from its instances on `client`.
pub(crate) fn apart(client: &Client, meta: &ModelMeta) -> bool {
    client.is_cluster()
        && meta.buckets > 1
        && meta.indexes.iter().any(|ix| ix.kind == IndexKind::Unique)
}

/// One reserved value.
#[derive(Debug)]
struct Claim {
    key: String,
    value: Vec<u8>,
    pk: String,
    token: String,
    deadline: u64,
    /// The record the reservation replaced ('' for none), put back on abort.
    previous: String,
}

/// The values one write reserved.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    taken: Vec<Claim>,
    lease: Duration,
}

/// What a simulated crash returns: the application would not know the outcome.
fn crash(step: &str) -> Error {
    Error::OutcomeUnknown {
        source: redis::RedisError::from(std::io::Error::other(format!(
            "simulated crash after {step}"
        ))),
    }
}

impl Claims {
    /// Between reserving and writing: a simulated crash or delay, if the client asks for one.
    pub(crate) async fn before_write(&self, client: &Client) -> Result<()> {
        match client.claim_fault() {
            Some(ClaimFault::CrashAfterReserve) if !self.is_empty() => Err(crash("reserving")),
            Some(ClaimFault::DelayWrite(pause)) if !self.is_empty() => {
                tokio::time::sleep(pause).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Between writing and confirming: a simulated crash, if the client asks for one.
    pub(crate) fn after_write(&self, client: &Client) -> Result<()> {
        match client.claim_fault() {
            Some(ClaimFault::CrashAfterWrite) if !self.is_empty() => Err(crash("writing")),
            _ => Ok(()),
        }
    }

    /// Between confirming and releasing: a simulated crash, if the client asks for one.
    pub(crate) fn after_confirm(client: &Client) -> Result<()> {
        match client.claim_fault() {
            Some(ClaimFault::CrashAfterConfirm) => Err(crash("confirming")),
            _ => Ok(()),
        }
    }

    /// Reserves `value` of the unique index `ix` for `pk` (see the module docs); on a violation
    /// every value reserved so far is given back.
    pub(crate) async fn reserve(
        &mut self,
        client: &Client,
        meta: &ModelMeta,
        ix: &IndexMeta,
        value: &[u8],
        pk: &str,
    ) -> Result<()> {
        match reserve(client, meta, ix, value, pk).await {
            Ok(claim) => {
                self.lease = client.unique_lease();
                self.taken.push(claim);
                Ok(())
            }
            Err(e) => {
                std::mem::take(self).abort(client).await;
                Err(e)
            }
        }
    }

    /// True when nothing was reserved.
    pub(crate) fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }

    /// The server time (ms) after which the write must not land: the earliest deadline minus a
    /// quarter of the lease. 0 (no limit) when nothing was reserved.
    pub(crate) fn write_before(&self) -> u64 {
        let margin = u64::try_from(self.lease.as_millis() / 4).unwrap_or(u64::MAX);
        self.taken
            .iter()
            .map(|c| c.deadline.saturating_sub(margin).max(1))
            .min()
            .unwrap_or(0)
    }

    /// Commits every claim (after the write). A failure leaves a pending claim, which heals.
    pub(crate) async fn confirm(self, client: &Client) {
        for c in &self.taken {
            let mut cmd = scripts::CLAIMS.call(&[&c.key]);
            cmd.arg("confirm").arg(&c.value).arg(&c.pk).arg(&c.token);
            let _ = client
                .execute(Call::script(&scripts::CLAIMS, &cmd, Effect::Idempotent))
                .await;
        }
    }

    /// Gives every claim back (the write did not happen): the records they replaced return.
    pub(crate) async fn abort(self, client: &Client) {
        for c in &self.taken {
            let mut cmd = scripts::CLAIMS.call(&[&c.key]);
            cmd.arg("restore")
                .arg(&c.value)
                .arg(&c.pk)
                .arg(&c.token)
                .arg(&c.previous);
            let _ = client
                .execute(Call::script(&scripts::CLAIMS, &cmd, Effect::Idempotent))
                .await;
        }
    }
}

/// A random token for a claim.
fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

async fn step(client: &Client, cmd: &redis::Cmd) -> Result<Value> {
    client
        .execute(Call::script(&scripts::CLAIMS, cmd, Effect::Idempotent))
        .await
}

/// Reserves `value` for `pk` (step 1 of the module docs).
async fn reserve(
    client: &Client,
    meta: &ModelMeta,
    ix: &IndexMeta,
    value: &[u8],
    pk: &str,
) -> Result<Claim> {
    let key = client.keys().index(meta, IndexKind::Unique, ix.path, 0);
    let token = new_token();
    let lease = u64::try_from(client.unique_lease().as_millis()).unwrap_or(u64::MAX);
    let violation = |holder: String| Error::UniqueViolation {
        model: meta.name,
        field: ix.path.to_string(),
        value: String::from_utf8_lossy(value).into_owned(),
        holder,
    };
    // Each round either ends or meets a record that changed since the last: a few suffice.
    for _ in 0..16 {
        let mut cmd = scripts::CLAIMS.call(&[&key]);
        cmd.arg("reserve").arg(value).arg(pk).arg(&token).arg(lease);
        let reply = texts(step(client, &cmd).await?, &key)?;
        let claim = |deadline: &str, previous: &str| Claim {
            key: key.clone(),
            value: value.to_vec(),
            pk: pk.to_string(),
            token: token.clone(),
            deadline: deadline.parse().unwrap_or(0),
            previous: previous.to_string(),
        };
        let (record, holder) = match reply.as_slice() {
            [ok, deadline, previous] if ok == "ok" => return Ok(claim(deadline, previous)),
            [held, holder] if held == "held" => return Err(violation(holder.clone())),
            [verify, holder, record] if verify == "verify" => (record.clone(), holder.clone()),
            _ => return Err(unexpected(&key, &reply)),
        };
        if holds(client, meta, ix, &holder, value).await? {
            if record.starts_with('?') {
                let mut cmd = scripts::CLAIMS.call(&[&key]);
                cmd.arg("promote").arg(value).arg(&record);
                step(client, &cmd).await?;
            }
            return Err(violation(holder));
        }
        let mut cmd = scripts::CLAIMS.call(&[&key]);
        cmd.arg("take")
            .arg(value)
            .arg(&record)
            .arg(pk)
            .arg(&token)
            .arg(lease);
        let reply = texts(step(client, &cmd).await?, &key)?;
        if let [ok, deadline, previous] = reply.as_slice()
            && ok == "ok"
        {
            return Ok(claim(deadline, previous));
        }
    }
    Err(Error::Conflict {
        model: meta.name,
        pk: pk.to_string(),
        attempts: 16,
    })
}

/// True when the instance `pk` holds `value` in the field of `ix` (a read in its own slot).
pub(crate) async fn holds(
    client: &Client,
    meta: &ModelMeta,
    ix: &IndexMeta,
    pk: &str,
    value: &[u8],
) -> Result<bool> {
    Ok(indexed_value(client, meta, ix, pk).await?.as_deref() == Some(value))
}

/// The value instance `pk` holds in the field of index `ix`: the field, or its old name in an
/// instance written before a rename.
pub(crate) async fn indexed_value(
    client: &Client,
    meta: &ModelMeta,
    ix: &IndexMeta,
    pk: &str,
) -> Result<Option<Vec<u8>>> {
    let hash = client.keys().instance(meta, pk);
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(&hash).arg(ix.path);
    cmd.arg(meta.renamed_from(ix.path).unwrap_or(ix.path));
    let (now, before): (Option<Vec<u8>>, Option<Vec<u8>>) = client.query(Call::read(&cmd)).await?;
    Ok(now.or(before))
}

/// Releases `pk`'s committed claim on `value` (step 4). A failure leaves an orphan claim, which
/// heals.
pub(crate) async fn release(
    client: &Client,
    meta: &ModelMeta,
    ix: &IndexMeta,
    value: &[u8],
    pk: &str,
) {
    let key = client.keys().index(meta, IndexKind::Unique, ix.path, 0);
    let mut cmd = scripts::CLAIMS.call(&[&key]);
    cmd.arg("release").arg(value).arg(pk);
    let _ = step(client, &cmd).await;
}

/// The items of a claims script's reply, as text (numbers included).
fn texts(reply: Value, key: &str) -> Result<Vec<String>> {
    reply::array(reply, key)?
        .into_iter()
        .map(|v| match v {
            Value::Int(n) => Ok(n.to_string()),
            v => reply::text(v, key),
        })
        .collect()
}

fn unexpected(key: &str, reply: &[String]) -> Error {
    Error::Decode {
        key: key.to_string(),
        field: String::new(),
        reason: format!("unexpected reply of the claims script: {reply:?}"),
    }
}

/// The pk a claim record names (see `lua/index.lua`), if it is a record at all.
pub(crate) fn record_holder(record: &str) -> Option<&str> {
    match record.as_bytes().first()? {
        b'=' => record[1..].split_once(':').map(|(_, pk)| pk),
        b'?' => {
            let (_, rest) = record[1..].split_once(':')?;
            rest.split_once(':').map(|(_, pk)| pk)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_name_their_holder() {
        assert_eq!(record_holder("=:alice"), Some("alice"));
        assert_eq!(record_holder("=0123abcd:a:b"), Some("a:b"));
        assert_eq!(record_holder("?1700000000000:ff:bob"), Some("bob"));
        assert_eq!(record_holder("?1700000000000:ff:"), Some(""));
        assert_eq!(record_holder("alice"), None);
        assert_eq!(record_holder(""), None);
    }

    #[test]
    fn the_write_must_land_a_quarter_lease_before_the_first_deadline() {
        let claim = |deadline| Claim {
            key: String::new(),
            value: Vec::new(),
            pk: String::new(),
            token: String::new(),
            deadline,
            previous: String::new(),
        };
        let claims = Claims {
            taken: vec![claim(10_000), claim(9_000)],
            lease: Duration::from_millis(4_000),
        };
        assert_eq!(claims.write_before(), 8_000);
        assert_eq!(Claims::default().write_before(), 0);
    }
}
