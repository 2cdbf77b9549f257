//! The wire protocol between the runtime and its Lua scripts, in one place.
//!
//! Everything the two sides must agree on is defined here, and the Lua side receives it as
//! generated source ([`lua_prelude`]) at the top of every script, so the two cannot drift:
//!
//! - the op codes of the field operations script (`lua/ops.lua`), with the Redis type each needs
//!   its key to hold, whether it only reads, whether it can create a container key, and which
//!   argument layout can run it ([`OpCode`]);
//! - the one-letter codes of index kinds and container kinds;
//! - the error codes every script returns, their payloads, and the one parser for them
//!   ([`ScriptError`]).
//!
//! The ARGV layouts themselves are documented in the Lua file that parses them (`lua/ops.lua`
//! for field operations) and written by [`OpsArgs`], [`compact_call`] and [`coalesced_call`].

use std::borrow::Cow;
use std::collections::HashMap;

use redis::Value;

use crate::meta::{ContainerKind, IndexKind, IndexMeta};

/// The Redis type an op needs its key to hold (a missing key is always fine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    List,
    Set,
    Hash,
    ZSet,
}

impl KeyType {
    /// The name `TYPE` answers for it.
    pub(crate) fn redis_name(self) -> &'static str {
        match self {
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::Hash => "hash",
            KeyType::ZSet => "zset",
        }
    }
}

/// Which argument layouts of `lua/ops.lua` can run an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Alone, the compact single-op layout runs it (the hot path); in a batch, the general one.
    Any,
    /// Only the general layout: the op needs its precheck even alone.
    General,
}

/// Declares [`OpCode`] and its facts in one table.
macro_rules! op_codes {
    ($($(#[$doc:meta])* $name:ident = $wire:literal, $key:expr, $reads:literal, $creates:literal, $layout:ident;)+) => {
        /// An operation of the field operations script: a Redis command run on one key, or one
        /// of the script's own codes (lowercase).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum OpCode {
            $($(#[$doc])* $name,)+
        }

        impl OpCode {
            /// Every op code.
            pub(crate) const ALL: &'static [OpCode] = &[$(OpCode::$name,)+];

            /// The code as sent to the script.
            pub(crate) fn wire(self) -> &'static str {
                match self { $(OpCode::$name => $wire,)+ }
            }

            /// The Redis type the op needs its key to hold (`None`: any).
            pub(crate) fn key_type(self) -> Option<KeyType> {
                match self { $(OpCode::$name => $key,)+ }
            }

            /// True when the op only reads.
            pub(crate) fn reads_only(self) -> bool {
                match self { $(OpCode::$name => $reads,)+ }
            }

            /// True when the op can create its key (which must then take the instance's TTL).
            pub(crate) fn creates_key(self) -> bool {
                match self { $(OpCode::$name => $creates,)+ }
            }

            /// Which layouts can run the op.
            pub(crate) fn layout(self) -> Layout {
                match self { $(OpCode::$name => Layout::$layout,)+ }
            }
        }
    };
}

use KeyType::{Hash, List, Set, ZSet};

op_codes! {
    Rpush = "RPUSH", Some(List), false, true, Any;
    Lpush = "LPUSH", Some(List), false, true, Any;
    Rpop = "RPOP", Some(List), false, false, Any;
    Lpop = "LPOP", Some(List), false, false, Any;
    Lindex = "LINDEX", Some(List), true, false, Any;
    /// LSET that answers 0 when the index is out of range (instead of failing).
    Lset = "lset", Some(List), false, false, General;
    Lrange = "LRANGE", Some(List), true, false, Any;
    Llen = "LLEN", Some(List), true, false, Any;
    Lrem = "LREM", Some(List), false, false, Any;
    Ltrim = "LTRIM", Some(List), false, false, Any;
    Del = "DEL", None, false, false, Any;
    Sadd = "SADD", Some(Set), false, true, Any;
    Srem = "SREM", Some(Set), false, false, Any;
    Sismember = "SISMEMBER", Some(Set), true, false, Any;
    Smembers = "SMEMBERS", Some(Set), true, false, Any;
    Scard = "SCARD", Some(Set), true, false, Any;
    Spop = "SPOP", Some(Set), false, false, Any;
    Hset = "HSET", Some(Hash), false, true, Any;
    Hdel = "HDEL", Some(Hash), false, false, Any;
    Hget = "HGET", Some(Hash), true, false, Any;
    Hexists = "HEXISTS", Some(Hash), true, false, Any;
    Hlen = "HLEN", Some(Hash), true, false, Any;
    Hkeys = "HKEYS", Some(Hash), true, false, Any;
    Hgetall = "HGETALL", Some(Hash), true, false, Any;
    Hsetnx = "HSETNX", Some(Hash), false, true, Any;
    Zadd = "ZADD", Some(ZSet), false, true, Any;
    /// Adds to a member's score in `f64` arithmetic (`member by`), checked to stay finite;
    /// answers the new score as text.
    Zincr = "zincr", Some(ZSet), false, true, General;
    Zpopmin = "ZPOPMIN", Some(ZSet), false, false, Any;
    Zpopmax = "ZPOPMAX", Some(ZSet), false, false, Any;
    Zrange = "ZRANGE", Some(ZSet), true, false, Any;
    Zrangebyscore = "ZRANGEBYSCORE", Some(ZSet), true, false, Any;
    Zrank = "ZRANK", Some(ZSet), true, false, Any;
    Zrevrank = "ZREVRANK", Some(ZSet), true, false, Any;
    Zscore = "ZSCORE", Some(ZSet), true, false, Any;
    Zrem = "ZREM", Some(ZSet), false, false, Any;
    Zcard = "ZCARD", Some(ZSet), true, false, Any;
    /// Gets and removes a map entry (`key`): HGET, then HDEL.
    Take = "take", Some(Hash), false, false, General;
    /// Appends bytes to a string or bytes field (`field suffix`); answers the new length.
    Append = "append", Some(Hash), false, false, General;
    /// Adds a duration to a datetime field (`field seconds nanos default`, nanos in [0, 1e9),
    /// default '' for none); answers the new stored text.
    Dtadd = "dtadd", Some(Hash), false, false, General;
    /// Union, intersection and difference of the op's set and the sets given as further keys.
    Sunion = "sunion", Some(Set), true, false, General;
    Sinter = "sinter", Some(Set), true, false, General;
    Sdiff = "sdiff", Some(Set), true, false, General;
    /// HINCRBY seeding a missing field with a default first; answers the new value (as text
    /// beyond 2^53, which a Lua number cannot hold).
    Incr = "incr", Some(Hash), false, true, Any;
    /// Adds to a float field in `f64` arithmetic (from a default when missing), checked to stay
    /// finite; answers the new stored text.
    Incrf = "incrf", Some(Hash), false, true, General;
    /// Moves a renamed field's value to its new name (when the new name is unset).
    Mv = "mv", Some(Hash), false, false, General;
    /// Checks that a field holds a value (`field value`) or none (`field`); a mismatch fails the
    /// batch before anything is written.
    Expect = "expect", Some(Hash), true, false, General;
    /// Sets (`ms`) or removes (`''`) the expiry of the whole instance: every key, its registry
    /// entry and its memo entry (see `set_expiry` in `lua/index.lua`).
    Expiry = "expiry", Some(Hash), false, false, General;
    /// The time an instance has left (on its hash).
    Pttl = "PTTL", None, true, false, Any;
    /// A condition on a field (`field comparator kind value default`): the batch fails before
    /// anything is written when it does not hold. Comparators `eq ne lt le gt ge set unset`;
    /// kinds `i` (int), `f` (float), `t` (datetime), `s` (stored text: `eq`/`ne` only).
    Cond = "cond", Some(Hash), true, false, General;
    /// Keeps the larger / smaller of a field and a value (`field value default`), int (`imax`,
    /// `imin`) or float (`fmax`, `fmin`); answers the value kept.
    Imax = "imax", Some(Hash), false, false, General;
    Imin = "imin", Some(Hash), false, false, General;
    Fmax = "fmax", Some(Hash), false, false, General;
    Fmin = "fmin", Some(Hash), false, false, General;
    /// Compare-and-set (`field expected new`, each `-` for unset or `=` followed by the stored
    /// text): writes `new` only when the field holds `expected`; answers 1 or 0.
    Cas = "cas", Some(Hash), false, false, General;
}

impl OpCode {
    /// The op code sent as `wire`, if any.
    #[cfg(test)]
    pub(crate) fn from_wire(wire: &str) -> Option<OpCode> {
        OpCode::ALL.iter().copied().find(|c| c.wire() == wire)
    }
}

/// The one-letter code of an index kind in script arguments.
pub(crate) fn index_code(kind: IndexKind) -> &'static str {
    match kind {
        IndexKind::SortedInt => "I",
        IndexKind::SortedFloat => "F",
        IndexKind::SortedDateTime => "T",
        IndexKind::Unique => "U",
        IndexKind::Lookup => "L",
    }
}

/// The code of an index in script arguments: its kind's letter, after `P` for a partitioned
/// index (`PI`: an `int` index partitioned by another field).
pub(crate) fn index_wire(ix: &IndexMeta) -> Cow<'static, str> {
    match ix.partition {
        None => Cow::Borrowed(index_code(ix.kind)),
        Some(_) => Cow::Owned(format!("{PARTITIONED}{}", index_code(ix.kind))),
    }
}

/// What starts the code of a partitioned index (`IX_PART` in Lua).
const PARTITIONED: &str = "P";

/// Marks an op of the ops script's batch layout that carries more than its code, key and
/// arguments (a TTL to copy, indexes, further keys); a plain op goes without it (see
/// `lua/ops.lua`).
const RICH_OP: &str = "+";

/// The one-letter code of a container kind in script arguments.
pub(crate) fn container_code(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::List => "L",
        ContainerKind::Set => "S",
        ContainerKind::Map => "H",
        ContainerKind::ZSet => "Z",
    }
}

/// Declares [`ErrorCode`] and its wire names in one table.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $wire:literal, $lua:literal;)+) => {
        /// An error code a rapyer script returns (the first word of its error reply).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum ErrorCode {
            $($(#[$doc])* $name,)+
        }

        impl ErrorCode {
            /// Every error code.
            pub(crate) const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)+];

            /// The code as the script sends it.
            pub(crate) fn wire(self) -> &'static str {
                match self { $(ErrorCode::$name => $wire,)+ }
            }

            /// The name of the Lua constant holding the code.
            fn lua_name(self) -> &'static str {
                match self { $(ErrorCode::$name => $lua,)+ }
            }
        }
    };
}

error_codes! {
    /// `<guard>`: the instance of the 1-based guard does not exist; nothing written.
    NotFound = "RAPYER_NOTFOUND", "E_NOTFOUND";
    /// `<lock>`: the 1-based required lock no longer holds its token; nothing written.
    LockLost = "RAPYER_LOCKLOST", "E_LOCKLOST";
    /// `<at>`: an insert found the instance; nothing written.
    Exists = "RAPYER_EXISTS", "E_EXISTS";
    /// `<op> <message>`: a key or stored value of the wrong type; nothing written.
    Type = "RAPYER_TYPE", "E_TYPE";
    /// `<op> <message>`: an increment would leave the type's range; nothing written.
    Overflow = "RAPYER_OVERFLOW", "E_OVERFLOW";
    /// `<at> <len>:<holder><value>`: a unique value held by another instance (`at`: the op, or
    /// the index for whole-instance writes); nothing written.
    Unique = "RAPYER_UNIQUE", "E_UNIQUE";
    /// `<op> <redis error>`: Redis refused an op before anything was written.
    Failed = "RAPYER_FAILED", "E_FAILED";
    /// `<op> <redis error>`: Redis refused an op after earlier ops were applied.
    Partial = "RAPYER_PARTIAL", "E_PARTIAL";
    /// `<op>`: an `expect` op found another value; nothing written.
    Changed = "RAPYER_CHANGED", "E_CHANGED";
    /// `<at>`: the lease on the unique values being written ran out; nothing written.
    Lease = "RAPYER_LEASE", "E_LEASE";
    /// `<at>`: a query forgot as many expired instances as one call may, and more are left;
    /// nothing answered: call again.
    Purging = "RAPYER_PURGING", "E_PURGING";
    /// `<op> <condition>`: a condition of the batch does not hold; nothing written.
    Condition = "RAPYER_CONDITION", "E_CONDITION";
}

/// A rapyer script's error reply, parsed. Positions are 0-based here (1-based on the wire,
/// as Lua counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScriptError {
    /// See [`ErrorCode::NotFound`].
    NotFound { guard: usize },
    /// See [`ErrorCode::LockLost`].
    LockLost { lock: usize },
    /// See [`ErrorCode::Exists`].
    Exists { at: usize },
    /// See [`ErrorCode::Type`].
    Type { op: usize, message: String },
    /// See [`ErrorCode::Overflow`].
    Overflow { op: usize, message: String },
    /// See [`ErrorCode::Unique`].
    Unique {
        at: usize,
        holder: String,
        value: String,
    },
    /// See [`ErrorCode::Failed`].
    Failed { op: usize, message: String },
    /// See [`ErrorCode::Partial`].
    Partial { op: usize, message: String },
    /// See [`ErrorCode::Changed`].
    Changed { op: usize },
    /// See [`ErrorCode::Lease`].
    Lease { at: usize },
    /// See [`ErrorCode::Purging`].
    Purging { at: usize },
    /// See [`ErrorCode::Condition`].
    Condition { op: usize, message: String },
}

impl ScriptError {
    /// Parses an error reply's code and detail (the rest of the message); `None` when it is not
    /// a rapyer script error or is malformed.
    pub(crate) fn parse(code: &str, detail: &str) -> Option<ScriptError> {
        let code = *ErrorCode::ALL.iter().find(|c| c.wire() == code)?;
        let (at, rest) = match detail.split_once(' ') {
            Some((at, rest)) => (at, rest),
            None => (detail, ""),
        };
        let at = at.trim().parse::<usize>().ok()?.checked_sub(1)?;
        let message = rest.to_string();
        Some(match code {
            ErrorCode::NotFound => ScriptError::NotFound { guard: at },
            ErrorCode::LockLost => ScriptError::LockLost { lock: at },
            ErrorCode::Exists => ScriptError::Exists { at },
            ErrorCode::Type => ScriptError::Type { op: at, message },
            ErrorCode::Overflow => ScriptError::Overflow { op: at, message },
            ErrorCode::Unique => {
                let (len, rest) = rest.split_once(':')?;
                let len: usize = len.parse().ok()?;
                let holder = rest.get(..len)?.to_string();
                let value = rest[len..].to_string();
                ScriptError::Unique { at, holder, value }
            }
            ErrorCode::Failed => ScriptError::Failed { op: at, message },
            ErrorCode::Partial => ScriptError::Partial { op: at, message },
            ErrorCode::Changed => ScriptError::Changed { op: at },
            ErrorCode::Lease => ScriptError::Lease { at },
            ErrorCode::Purging => ScriptError::Purging { at },
            ErrorCode::Condition => ScriptError::Condition { op: at, message },
        })
    }

    /// Parses a Redis error reply (see [`ScriptError::parse`]).
    pub(crate) fn from_redis(e: &redis::RedisError) -> Option<ScriptError> {
        Self::parse(e.code()?, e.detail().unwrap_or_default())
    }

    /// The reply as a script sends it (code and detail), the inverse of [`ScriptError::parse`].
    #[cfg(test)]
    fn wire(&self) -> (&'static str, String) {
        let n = |i: &usize| i + 1;
        match self {
            ScriptError::NotFound { guard } => (ErrorCode::NotFound.wire(), n(guard).to_string()),
            ScriptError::LockLost { lock } => (ErrorCode::LockLost.wire(), n(lock).to_string()),
            ScriptError::Exists { at } => (ErrorCode::Exists.wire(), n(at).to_string()),
            ScriptError::Type { op, message } => {
                (ErrorCode::Type.wire(), format!("{} {message}", n(op)))
            }
            ScriptError::Overflow { op, message } => {
                (ErrorCode::Overflow.wire(), format!("{} {message}", n(op)))
            }
            ScriptError::Unique { at, holder, value } => (
                ErrorCode::Unique.wire(),
                format!("{} {}:{holder}{value}", n(at), holder.len()),
            ),
            ScriptError::Failed { op, message } => {
                (ErrorCode::Failed.wire(), format!("{} {message}", n(op)))
            }
            ScriptError::Partial { op, message } => {
                (ErrorCode::Partial.wire(), format!("{} {message}", n(op)))
            }
            ScriptError::Changed { op } => (ErrorCode::Changed.wire(), n(op).to_string()),
            ScriptError::Lease { at } => (ErrorCode::Lease.wire(), n(at).to_string()),
            ScriptError::Purging { at } => (ErrorCode::Purging.wire(), n(at).to_string()),
            ScriptError::Condition { op, message } => {
                (ErrorCode::Condition.wire(), format!("{} {message}", n(op)))
            }
        }
    }
}

/// Lua source that every script starts with: the tables and constants above, so that scripts
/// never spell a code themselves.
///
/// - `E_*`: error codes, and `fail(code, at, message)` building an error reply;
/// - `IX_*`, `C_*`: index and container kind codes; `OP_*`: the script's own op codes;
/// - `op_tables()`: returns `KEY_TYPE` (op code -> the Redis type its key must hold) and
///   `READS` (op codes that only read). A function, so the hot path builds no table.
pub(crate) fn lua_prelude() -> String {
    let mut lua =
        String::from("-- Generated from runtime/src/protocol.rs: the codes shared with Rust.\n");
    for code in ErrorCode::ALL {
        lua.push_str(&format!("local {} = '{}'\n", code.lua_name(), code.wire()));
    }
    lua.push_str(
        "local function fail(code, at, message)\n  \
         return redis.error_reply(code .. ' ' .. at .. (message and (' ' .. message) or ''))\nend\n",
    );
    for (name, kind) in [
        ("IX_INT", IndexKind::SortedInt),
        ("IX_FLOAT", IndexKind::SortedFloat),
        ("IX_DATETIME", IndexKind::SortedDateTime),
        ("IX_UNIQUE", IndexKind::Unique),
        ("IX_LOOKUP", IndexKind::Lookup),
    ] {
        lua.push_str(&format!("local {name} = '{}'\n", index_code(kind)));
    }
    lua.push_str(&format!("local IX_PART = '{PARTITIONED}'\n"));
    lua.push_str(&format!("local RICH = '{RICH_OP}'\n"));
    for (name, kind) in [
        ("C_LIST", ContainerKind::List),
        ("C_SET", ContainerKind::Set),
        ("C_MAP", ContainerKind::Map),
        ("C_ZSET", ContainerKind::ZSet),
    ] {
        lua.push_str(&format!("local {name} = '{}'\n", container_code(kind)));
    }
    // The script's own codes (Redis commands are called by their names).
    for code in OpCode::ALL {
        if code.wire().chars().all(|c| c.is_ascii_lowercase()) {
            lua.push_str(&format!(
                "local OP_{} = '{}'\n",
                code.wire().to_ascii_uppercase(),
                code.wire()
            ));
        }
    }
    lua.push_str("local function op_tables()\n  return {");
    for code in OpCode::ALL {
        if let Some(t) = code.key_type() {
            lua.push_str(&format!(
                " {} = '{}',",
                lua_key(code.wire()),
                t.redis_name()
            ));
        }
    }
    lua.push_str(" }, {");
    for code in OpCode::ALL.iter().filter(|c| c.reads_only()) {
        lua.push_str(&format!(" {} = true,", lua_key(code.wire())));
    }
    lua.push_str(" }\nend\n");
    lua
}

/// A Lua table key for an op code (they are all identifiers).
fn lua_key(wire: &str) -> &str {
    debug_assert!(wire.chars().all(|c| c.is_ascii_alphabetic()));
    wire
}

/// The compact single-op layout of `lua/ops.lua`: `KEYS = { hash [, key] }`,
/// `ARGV = { 's', code, ttl ('1': a created key copies the hash's TTL), args... }`.
pub(crate) fn compact_call(
    script: &crate::script::Lua,
    hash: &str,
    key: &str,
    code: OpCode,
    copy_ttl: bool,
    args: &[Vec<u8>],
) -> redis::Cmd {
    debug_assert_eq!(code.layout(), Layout::Any);
    let mut cmd = if key == hash {
        script.call(&[hash])
    } else {
        script.call(&[hash, key])
    };
    cmd.arg("s")
        .arg(code.wire())
        .arg(if copy_ttl { "1" } else { "0" })
        .arg(args);
    cmd
}

/// One op of a coalesced call: instance hash, key, code, whether a created key copies the
/// hash's TTL, arguments.
pub(crate) type CompactOp<'a> = (&'a str, &'a str, OpCode, bool, &'a [Vec<u8>]);

/// The coalesced layout of `lua/ops_single.lua` (several independent compact ops):
/// `ARGV = { 'm', n, then per op: hash position, key position, code, ttl, argc, args... }`.
pub(crate) fn coalesced_call(script: &crate::script::Lua, ops: &[CompactOp<'_>]) -> redis::Cmd {
    let mut keys = KeyPositions::default();
    let placed: Vec<(usize, usize)> = ops
        .iter()
        .map(|(hash, key, ..)| (keys.at(hash), keys.at(key)))
        .collect();
    let mut cmd = script.call(&keys.keys);
    cmd.arg("m").arg(ops.len());
    for ((_, _, code, copy_ttl, args), (hash, key)) in ops.iter().zip(placed) {
        debug_assert_eq!(code.layout(), Layout::Any);
        cmd.arg(hash)
            .arg(key)
            .arg(code.wire())
            .arg(if *copy_ttl { "1" } else { "0" })
            .arg(args.len())
            .arg(*args);
    }
    cmd
}

/// The reply of a coalesced call: per op, `Some(reply)` when it applied, `None` when it failed
/// and wrote nothing (a flags string leads the reply, so that no error element fails it whole);
/// `None` for a reply of another shape.
pub(crate) fn coalesced_replies(reply: Value) -> Option<Vec<Option<Value>>> {
    let Value::Array(mut items) = reply else {
        return None;
    };
    if items.is_empty() {
        return None;
    }
    let flags = match items.remove(0) {
        Value::BulkString(flags) => flags,
        Value::SimpleString(flags) => flags.into_bytes(),
        _ => return None,
    };
    (flags.len() == items.len()).then(|| {
        flags
            .iter()
            .zip(items)
            .map(|(&flag, reply)| (flag == b'.').then_some(reply))
            .collect()
    })
}

/// One op of the general layout.
pub(crate) struct GeneralOp<'a> {
    pub(crate) code: OpCode,
    pub(crate) key: &'a str,
    /// The instance hash whose TTL a key created by the op must copy.
    pub(crate) ttl_from: Option<&'a str>,
    /// The index the op's field feeds: its kind and key.
    pub(crate) index: Option<(IndexKind, &'a str)>,
    /// The partitioned indexes whose entry the op can move, with their keys.
    pub(crate) partitions: &'a [(&'static IndexMeta, String)],
    /// The instance's pk and its bucket's memo of expiring instances, which the index entries
    /// above name (sent only for an op with an index).
    pub(crate) owner: Option<(&'a str, Option<&'a str>)>,
    /// Further keys the op touches (an expiry: the instance's other keys), by position.
    pub(crate) extra: Vec<&'a str>,
    pub(crate) args: Cow<'a, [Vec<u8>]>,
}

/// What re-arming an instance's TTL touches (sliding expiry, see `lua/ops.lua`).
#[derive(Debug)]
pub(crate) struct TtlRefreshKeys {
    pub(crate) ttl_ms: u64,
    /// The registry of the instance's bucket.
    pub(crate) registry: String,
    /// Every key of the instance, the hash first.
    pub(crate) keys: Vec<String>,
}

/// Every key of a call once, in KEYS order, with its 1-based position (as Lua counts).
#[derive(Default)]
struct KeyPositions<'a> {
    keys: Vec<&'a str>,
    positions: HashMap<&'a str, usize>,
}

impl<'a> KeyPositions<'a> {
    /// The position of `key`, added on first use.
    fn at(&mut self, key: &'a str) -> usize {
        if let Some(&at) = self.positions.get(key) {
            return at;
        }
        self.keys.push(key);
        self.positions.insert(key, self.keys.len());
        self.keys.len()
    }
}

/// Writes the general layout of `lua/ops.lua` (documented there): every key once in KEYS,
/// referred to by position; guards, required locks, then the ops.
#[derive(Default)]
pub(crate) struct OpsArgs<'a> {
    keys: KeyPositions<'a>,
    guards: Vec<usize>,
    /// Position, token, whether to release it once the ops applied.
    locks: Vec<(usize, &'a str, bool)>,
    lease_until: u64,
    /// Sliding expiry: ttl ms, registry position, pk, key positions.
    refreshes: Vec<(u64, usize, &'a str, Vec<usize>)>,
    ops: Vec<PlacedOp<'a>>,
}

/// An op with its keys replaced by their KEYS positions.
struct PlacedOp<'a> {
    code: OpCode,
    key: usize,
    ttl_from: usize,
    /// Kind, index key position.
    index: Option<(IndexKind, usize)>,
    /// The partitioned indexes the op can move, each with its key's position.
    partitions: Vec<(&'static IndexMeta, usize)>,
    /// pk and memo position (0 for none), when the op has an index of either kind.
    owner: Option<(&'a str, usize)>,
    extra: Vec<usize>,
    args: Cow<'a, [Vec<u8>]>,
}

impl PlacedOp<'_> {
    /// An op with no TTL to copy, no index to move and no further keys, which goes in the
    /// short form (code, key, argc, args) that the script reads without building anything.
    fn is_plain(&self) -> bool {
        self.ttl_from == 0
            && self.index.is_none()
            && self.partitions.is_empty()
            && self.extra.is_empty()
    }
}

impl<'a> OpsArgs<'a> {
    /// The 1-based KEYS position of `key`, added on first use.
    fn key(&mut self, key: &'a str) -> usize {
        self.keys.at(key)
    }

    /// Requires the instance hash `hash` to exist (once per hash); returns whether it was new.
    pub(crate) fn guard(&mut self, hash: &'a str) -> bool {
        let at = self.key(hash);
        if self.guards.contains(&at) {
            return false;
        }
        self.guards.push(at);
        true
    }

    /// Requires the lock at `key` to still hold `token`; with `release`, deletes it once the
    /// ops are applied.
    pub(crate) fn lock(&mut self, key: &'a str, token: &'a str, release: bool) {
        let at = self.key(key);
        self.locks.push((at, token, release));
    }

    /// Writes nothing once the server's clock passes `until_ms` (the lease on unique values).
    pub(crate) fn lease(&mut self, until_ms: u64) {
        self.lease_until = until_ms;
    }

    /// Re-arms the TTL of an instance after the ops (sliding expiry): every key in `keys` (the
    /// instance hash first) and its registry entry, if it still expires.
    pub(crate) fn refresh(&mut self, refresh: &'a TtlRefreshKeys, pk: &'a str) {
        let registry = self.key(&refresh.registry);
        let keys = refresh.keys.iter().map(|k| self.key(k)).collect();
        self.refreshes.push((refresh.ttl_ms, registry, pk, keys));
    }

    /// Adds an op.
    pub(crate) fn op(&mut self, op: GeneralOp<'a>) {
        let key = self.key(op.key);
        let ttl = op.ttl_from.map_or(0, |hash| self.key(hash));
        let index = op.index.map(|(kind, key)| (kind, self.key(key)));
        let partitions: Vec<_> = op
            .partitions
            .iter()
            .map(|(ix, key)| (*ix, self.key(key)))
            .collect();
        let owner = match op.owner {
            Some((pk, memo)) if index.is_some() || !partitions.is_empty() => {
                Some((pk, memo.map_or(0, |memo| self.key(memo))))
            }
            _ => None,
        };
        let extra = op.extra.iter().map(|k| self.key(k)).collect();
        self.ops.push(PlacedOp {
            code: op.code,
            key,
            ttl_from: ttl,
            index,
            partitions,
            owner,
            extra,
            args: op.args,
        });
    }

    /// Every key, in KEYS order.
    pub(crate) fn keys(&self) -> &[&'a str] {
        &self.keys.keys
    }

    /// The EVALSHA command of `script` with these arguments.
    pub(crate) fn command(&self, script: &crate::script::Lua) -> redis::Cmd {
        let mut cmd = script.call(&self.keys.keys);
        cmd.arg(self.guards.len()).arg(&self.guards);
        cmd.arg(self.locks.len());
        for (at, token, release) in &self.locks {
            cmd.arg(*at).arg(*token).arg(u8::from(*release));
        }
        cmd.arg(self.lease_until);
        cmd.arg(self.refreshes.len());
        for (ttl_ms, registry, pk, keys) in &self.refreshes {
            cmd.arg(*ttl_ms)
                .arg(*registry)
                .arg(*pk)
                .arg(keys.len())
                .arg(keys);
        }
        cmd.arg(self.ops.len());
        for op in &self.ops {
            if op.is_plain() {
                cmd.arg(op.code.wire()).arg(op.key);
                cmd.arg(op.args.len()).arg(op.args.as_ref());
                continue;
            }
            cmd.arg(RICH_OP)
                .arg(op.code.wire())
                .arg(op.key)
                .arg(op.ttl_from);
            let (pk, memo) = op.owner.unwrap_or(("", 0));
            match op.index {
                Some((kind, at)) => cmd.arg(index_code(kind)).arg(at).arg(pk).arg(memo),
                None => cmd.arg("-"),
            };
            cmd.arg(op.partitions.len());
            if !op.partitions.is_empty() {
                cmd.arg(pk).arg(memo);
            }
            for (ix, at) in &op.partitions {
                cmd.arg(index_wire(ix).as_ref())
                    .arg(*at)
                    .arg(ix.path)
                    .arg(ix.partition.unwrap_or(""));
            }
            cmd.arg(op.extra.len()).arg(&op.extra);
            cmd.arg(op.args.len()).arg(op.args.as_ref());
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_code_round_trips_and_reaches_the_lua_tables() {
        let lua = lua_prelude();
        let tables = &lua[lua.find("local function op_tables()").unwrap()..];
        let (types, reads) = tables.split_once("}, {").unwrap();
        for &code in OpCode::ALL {
            assert_eq!(OpCode::from_wire(code.wire()), Some(code));
            match code.key_type() {
                Some(t) => assert!(
                    types.contains(&format!(" {} = '{}',", code.wire(), t.redis_name())),
                    "{code:?}"
                ),
                None => assert!(!types.contains(&format!(" {} =", code.wire()))),
            }
            assert_eq!(
                reads.contains(&format!(" {} = true,", code.wire())),
                code.reads_only(),
                "{code:?}"
            );
            // An op that reads never creates a key; the script's own codes are lowercase.
            assert!(!(code.reads_only() && code.creates_key()), "{code:?}");
        }
        let mut wires: Vec<&str> = OpCode::ALL.iter().map(|c| c.wire()).collect();
        wires.sort();
        wires.dedup();
        assert_eq!(wires.len(), OpCode::ALL.len());
    }

    #[test]
    fn every_error_code_round_trips() {
        let samples = [
            ScriptError::NotFound { guard: 0 },
            ScriptError::NotFound { guard: 11 },
            ScriptError::LockLost { lock: 2 },
            ScriptError::Exists { at: 0 },
            ScriptError::Type {
                op: 3,
                message: "the key holds a set, not a list".into(),
            },
            ScriptError::Overflow {
                op: 0,
                message: "9223372036854775807 + 1 does not fit".into(),
            },
            ScriptError::Unique {
                at: 1,
                holder: "a:b 7".into(),
                value: "x y:z".into(),
            },
            ScriptError::Unique {
                at: 0,
                holder: "ü".into(),
                value: String::new(),
            },
            ScriptError::Failed {
                op: 4,
                message: "ERR something".into(),
            },
            ScriptError::Partial {
                op: 1,
                message: "OOM command not allowed".into(),
            },
            ScriptError::Changed { op: 2 },
            ScriptError::Lease { at: 0 },
            ScriptError::Purging { at: 0 },
            ScriptError::Condition {
                op: 2,
                message: "score < 10".into(),
            },
        ];
        let mut seen = Vec::new();
        for sample in samples {
            let (code, detail) = sample.wire();
            assert_eq!(ScriptError::parse(code, &detail), Some(sample.clone()));
            // The same through a real error reply, as the client parses it.
            let reply = format!("-{code} {detail}\r\n");
            let e = redis::parse_redis_value(reply.as_bytes())
                .and_then(redis::Value::extract_error)
                .unwrap_err();
            assert_eq!(ScriptError::from_redis(&e), Some(sample), "{e}");
            seen.push(code);
        }
        for code in ErrorCode::ALL {
            assert!(seen.contains(&code.wire()), "{code:?} has no sample");
            assert!(
                lua_prelude().contains(&format!("local {} = '{}'", code.lua_name(), code.wire())),
                "{code:?}"
            );
        }
    }

    #[test]
    fn malformed_errors_are_not_parsed() {
        assert_eq!(ScriptError::parse("ERR", "1 x"), None);
        assert_eq!(ScriptError::parse("RAPYER_TYPE", "x y"), None);
        assert_eq!(ScriptError::parse("RAPYER_TYPE", "0 y"), None);
        assert_eq!(ScriptError::parse("RAPYER_UNIQUE", "1 9:ab"), None);
        assert_eq!(ScriptError::parse("RAPYER_UNIQUE", "1 ab"), None);
    }
}
