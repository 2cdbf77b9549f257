//! Many instances in few calls: `insert_many`, `save_many`, `delete_many`.
//!
//! The instances are grouped by hash slot (one group on one server) and by at most
//! [`PER_CALL`]; each group is one script call (`lua/many.lua` around the one-instance write or
//! delete), and the calls are sent concurrently, so 10,000 instances on one server are 20 calls
//! in flight at once. Each instance is written exactly as its own script would write it (atomic,
//! indexes and unique checks included) and sees what the instances before it did; each gets its
//! own outcome. A call whose outcome is unknown (a timeout after sending) makes the outcome of
//! every instance in it unknown, and nothing is resent. Models whose unique indexes live apart
//! from their instances (several buckets, see `claims`) are written one script per instance
//! instead (their unique values are claimed in steps), concurrently but in waves that keep the
//! order between instances sharing a pk or a unique value.

use std::collections::HashMap;

use redis::Value;

use crate::claims;
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::meta::{IndexKind, ModelMeta};
use crate::protocol::ScriptError;
use crate::record::RecordWriter;
use crate::reply::array;
use crate::script::{Lua, ScriptArgs};
use crate::scripts;
use crate::stored::{self, InstanceKeys, WriteMode};

/// Instances per script call: enough to make a call worth it, few enough that one call never
/// holds the server for long.
pub(crate) const PER_CALL: usize = 500;

/// What one instance of a group call got: the script's reply, or its error text.
enum Outcome {
    Reply(Value),
    Failed(String),
}

/// Writes every instance of `items` (keys, record) in `mode` (insert or save); one outcome per
/// instance, in order.
pub(crate) async fn write_many(
    client: &Client,
    meta: &ModelMeta,
    items: Vec<(InstanceKeys, RecordWriter)>,
    version: &[u8],
    mode: WriteMode,
) -> Vec<Result<()>> {
    if claims::apart(client, meta) {
        return write_apart(client, meta, items, version, mode).await;
    }
    let (keys, records): (Vec<InstanceKeys>, Vec<RecordWriter>) = items.into_iter().unzip();
    let refs: Vec<&InstanceKeys> = keys.iter().collect();
    let groups = group(client, &refs);
    let args: Vec<ScriptArgs> = keys
        .iter()
        .zip(records)
        .map(|(k, record)| {
            stored::write_args(client, meta, k, record, version, mode, None, false, 0)
        })
        .collect();
    let outcomes = run(client, &scripts::WRITE_MANY, &args, &groups).await;
    outcomes
        .into_iter()
        .zip(&keys)
        .map(|(outcome, keys)| match outcome? {
            Outcome::Reply(_) => Ok(()),
            Outcome::Failed(text) => Err(failure(&text, |se| {
                stored::script_write_error(meta, se, keys, None)
            })),
        })
        .collect()
}

/// Writes instances whose unique values are claimed apart (see `claims`), one script per
/// instance, in waves: an instance sharing its pk or a unique value with an earlier one waits
/// for a later wave, so each still sees the ones before it; a wave's writes run concurrently.
async fn write_apart(
    client: &Client,
    meta: &ModelMeta,
    items: Vec<(InstanceKeys, RecordWriter)>,
    version: &[u8],
    mode: WriteMode,
) -> Vec<Result<()>> {
    // The wave of each instance: one after the last wave holding any of its values.
    let mut last_wave: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, (keys, record)) in items.iter().enumerate() {
        let mut values = vec![[b"pk\0".as_slice(), keys.pk.as_bytes()].concat()];
        for ix in meta
            .indexes
            .iter()
            .filter(|ix| ix.kind == IndexKind::Unique)
        {
            if let Some((_, raw)) = record.hash.iter().find(|(f, _)| f == ix.path) {
                values.push([ix.path.as_bytes(), b"\0", raw].concat());
            }
        }
        let wave = values
            .iter()
            .filter_map(|v| last_wave.get(v))
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        for v in values {
            last_wave.insert(v, wave);
        }
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(i);
    }
    let mut items: Vec<Option<(InstanceKeys, RecordWriter)>> =
        items.into_iter().map(Some).collect();
    let mut out: Vec<Option<Result<()>>> = (0..items.len()).map(|_| None).collect();
    for wave in waves {
        let writes = wave.iter().map(|&i| {
            let (keys, record) = items[i].take().expect("each instance is in one wave");
            async move {
                let result = stored::write(client, meta, &keys, record, version, mode, None).await;
                (i, result.map(drop))
            }
        });
        for (i, result) in futures_util::future::join_all(writes).await {
            out[i] = Some(result);
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err(Error::Pipeline("a bulk write lost an instance"))))
        .collect()
}

/// Deletes every instance of `keys`; per instance whether it existed, in order.
pub(crate) async fn delete_many(
    client: &Client,
    meta: &ModelMeta,
    keys: &[InstanceKeys],
) -> Vec<Result<bool>> {
    let refs: Vec<&InstanceKeys> = keys.iter().collect();
    let groups = group(client, &refs);
    let args: Vec<ScriptArgs> = keys
        .iter()
        .map(|k| stored::delete_args(client, meta, k))
        .collect();
    let outcomes = run(client, &scripts::DELETE_MANY, &args, &groups).await;
    let mut out = Vec::with_capacity(keys.len());
    for (outcome, keys) in outcomes.into_iter().zip(keys) {
        out.push(match outcome {
            Ok(Outcome::Reply(reply)) => stored::deleted(client, meta, keys, reply).await,
            Ok(Outcome::Failed(text)) => Err(failure(&text, |_| None)),
            Err(e) => Err(e),
        });
    }
    out
}

/// Positions of `keys` grouped by hash slot (one slot on one server), at most [`PER_CALL`] per
/// group.
fn group(client: &Client, keys: &[&InstanceKeys]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut open: HashMap<u16, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let slot = if client.is_cluster() {
            crate::slot::slot(k.hash.as_bytes())
        } else {
            0
        };
        match open.get(&slot) {
            Some(&g) if groups[g].len() < PER_CALL => groups[g].push(i),
            _ => {
                groups.push(vec![i]);
                open.insert(slot, groups.len() - 1);
            }
        }
    }
    groups
}

/// Sends one call of `script` per group, concurrently; one outcome per instance, in order.
async fn run(
    client: &Client,
    script: &Lua,
    args: &[ScriptArgs],
    groups: &[Vec<usize>],
) -> Vec<Result<Outcome>> {
    let calls = groups.iter().map(|group| async move {
        let mut call = ScriptArgs::default();
        call.arg(group.len());
        for &i in group {
            call.arg(args[i].keys.len()).arg(args[i].args.len());
        }
        for &i in group {
            call.keys.extend(args[i].keys.iter().cloned());
            call.args.extend(args[i].args.iter().cloned());
        }
        let cmd = call.command(script);
        let reply = client
            .execute(Call::script(script, &cmd, Effect::Writes))
            .await;
        let first = args[group[0]].keys.first().map_or("", String::as_str);
        (group, reply.and_then(|r| outcomes(r, group.len(), first)))
    });
    let mut out: Vec<Option<Result<Outcome>>> = (0..args.len()).map(|_| None).collect();
    for (group, result) in futures_util::future::join_all(calls).await {
        match result {
            Ok(outcomes) => {
                for (&i, outcome) in group.iter().zip(outcomes) {
                    out[i] = Some(Ok(outcome));
                }
            }
            Err(e) => {
                for &i in group {
                    out[i] = Some(Err(e.for_another()));
                }
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err(Error::Pipeline("a bulk call lost an instance"))))
        .collect()
}

/// The per-instance outcomes of a group call's reply (`{ 1, reply }` or `{ 0, error }` each).
fn outcomes(reply: Value, n: usize, key: &str) -> Result<Vec<Outcome>> {
    let items = array(reply, key)?;
    if items.len() != n {
        return Err(crate::reply::unexpected(
            key,
            "one reply per instance",
            &Value::Int(items.len() as i64),
        ));
    }
    items
        .into_iter()
        .map(|item| {
            let mut parts = array(item, key)?.into_iter();
            match (parts.next(), parts.next()) {
                (Some(Value::Int(1)), Some(reply)) => Ok(Outcome::Reply(reply)),
                (Some(Value::Int(1)), None) => Ok(Outcome::Reply(Value::Nil)),
                (Some(Value::Int(0)), Some(text)) => {
                    Ok(Outcome::Failed(crate::reply::text(text, key)?))
                }
                (other, _) => Err(crate::reply::unexpected(
                    key,
                    "an instance's outcome",
                    &other.unwrap_or(Value::Nil),
                )),
            }
        })
        .collect()
}

/// The typed error of an instance's error text (`<code> <detail>`, as a script's error reply
/// reads), through `typed`; an error of the server's own when it is none of rapyer's.
fn failure(text: &str, typed: impl FnOnce(ScriptError) -> Option<Error>) -> Error {
    let (code, detail) = text.split_once(' ').unwrap_or((text, ""));
    ScriptError::parse(code, detail)
        .and_then(typed)
        .unwrap_or_else(|| {
            Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Extension,
                "script error",
                text.to_string(),
            )))
        })
}
