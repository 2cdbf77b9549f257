//! An optimistic transaction's commit as plain commands inside its MULTI/EXEC, when the ops
//! script has nothing to add.
//!
//! Under WATCH the commit already knows what the script would check: the instance exists and
//! its keys hold the types and values read (any write since fails EXEC). What is left of the
//! script for the writes an `update` sends (fields set or deleted, containers patched) is the
//! commands themselves and, for a sorted index on a number set to a new value, the entry that
//! follows the field.
//! Sent as plain commands they cost the server a fraction of a script call (a game's commit:
//! about 13 us of Lua against a few us of commands). Anything else the script does (unique
//! values, lookups, partitions, datetimes, expiry and its memo, renamed fields, reservations)
//! keeps the script.

use redis::Cmd;

use crate::meta::IndexKind;
use crate::ops::op::OpSpec;
use crate::protocol::OpCode;

/// The commands of a plain commit, each with the position of the spec it serves (for errors).
pub(crate) struct PlainCommit {
    pub(crate) commands: Vec<Cmd>,
    pub(crate) served: Vec<usize>,
}

/// The commands that apply `specs` (in order, each spec's index entry right after it), or
/// `None` when one of them needs the ops script.
pub(crate) fn commands(specs: &[OpSpec]) -> Option<PlainCommit> {
    let mut out = PlainCommit {
        commands: Vec::with_capacity(specs.len() + 1),
        served: Vec::with_capacity(specs.len() + 1),
    };
    for (at, spec) in specs.iter().enumerate() {
        let plain_code = matches!(
            spec.code,
            OpCode::Hset
                | OpCode::Hdel
                | OpCode::Del
                | OpCode::Rpush
                | OpCode::Sadd
                | OpCode::Srem
                | OpCode::Zadd
                | OpCode::Zrem
        );
        // A model with a TTL copies it to created keys and keeps a memo of its index entries.
        if !plain_code
            || spec.located.meta.ttl_seconds.is_some()
            || !spec.partitions.is_empty()
            || spec.renamed_from.is_some()
            || !spec.extra_keys.is_empty()
            || !spec.also.is_empty()
        {
            return None;
        }
        let mut cmd = redis::cmd(spec.code.wire());
        cmd.arg(&spec.key).arg(&spec.args);
        out.commands.push(cmd);
        out.served.push(at);
        if let Some((ix, key)) = &spec.index {
            out.commands
                .push(index_entry(ix.kind, key, &spec.located.pk, spec)?);
            out.served.push(at);
        }
    }
    Some(out)
}

/// The command that moves the instance's entry in a sorted index on a number after an HSET of
/// the field, as `index_move` in `lua/index.lua` does: the score is the field's stored text,
/// which Redis parses into the same double as the script's `tonumber`. `None` for any other
/// index or op (a cleared field keeps the script), or a text that is not a finite number.
fn index_entry(kind: IndexKind, key: &str, pk: &str, spec: &OpSpec) -> Option<Cmd> {
    if !matches!(kind, IndexKind::SortedInt | IndexKind::SortedFloat) {
        return None;
    }
    let (OpCode::Hset, [_, text]) = (spec.code, spec.args.as_slice()) else {
        return None;
    };
    let score = std::str::from_utf8(text).ok()?;
    if !score.parse::<f64>().is_ok_and(f64::is_finite) {
        return None;
    }
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(key).arg(score).arg(pk);
    Some(cmd)
}
