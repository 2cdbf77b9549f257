//! The Lua scripts rapyer runs (each a [`Lua`]: a Redis Functions library called by FCALL, or a
//! script called by EVALSHA for a client without functions; see [`script`](crate::script)). A
//! node that lacks the library (a new node, `FUNCTION FLUSH`) answers "Function not found", and
//! one that lost its script cache (restart, failover, `SCRIPT FLUSH`) answers NOSCRIPT: either
//! means the call did not run at all; the library is loaded (or the call is sent again as an
//! EVAL with the script's body) on that node and the call is sent again, so every call runs
//! exactly once (see `conn::execute`).
//!
//! Every script declares its flags (`no-writes` for those that only read): on Redis Cluster it
//! may then only touch the keys it declares, so a key of another slot fails loudly instead of
//! working by accident while two slots share a node. Then comes the generated prelude of
//! [`protocol`](crate::protocol) (the codes shared with Rust), then the script's own files:
//! definitions ([`Part::Defs`]), which a library runs once, and the statements run on every call
//! ([`Part::Run`]).

use std::sync::LazyLock;

use crate::protocol;
use crate::script::Part::{Defs, Run};
use crate::script::{Access, Lua, Part};

/// A script of `parts` after the protocol's prelude.
fn lua(access: Access, parts: &[Part<'_>]) -> Lua {
    Lua::new(access, &protocol::lua_prelude(), parts)
}

/// Functions several scripts share: the server's time, reading a container (see
/// `lua/common.lua`).
const COMMON: &str = include_str!("lua/common.lua");

/// Index maintenance functions, shared by every script that writes an instance (after the
/// shared functions, and the datetime functions that sorted datetime indexes and datetime
/// operations use).
const INDEX: &str = concat!(
    include_str!("lua/common.lua"),
    include_str!("lua/datetime.lua"),
    include_str!("lua/index.lua")
);

/// Whole-instance writes (see `lua/write_instance.lua`).
const WRITE_ONE: &str = include_str!("lua/write_instance.lua");

/// Whole-instance deletes (see `lua/delete_instance.lua`).
const DELETE_ONE: &str = include_str!("lua/delete_instance.lua");

/// Runs a one-instance function for several instances (see `lua/many.lua`).
const MANY: &str = include_str!("lua/many.lua");

/// Whole-instance insert/save/update/get-or-insert.
pub(crate) static WRITE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            Defs(INDEX),
            Defs(WRITE_ONE),
            Run("return write_one(KEYS, ARGV)\n"),
        ],
    )
});

/// The same for several instances in one call.
pub(crate) static WRITE_MANY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            Defs(INDEX),
            Defs(WRITE_ONE),
            Defs(MANY),
            Run("return run_many(write_one)\n"),
        ],
    )
});

/// Positions in sorted sets, for queries and paging (see `lua/ranks.lua`).
const RANKS: &str = include_str!("lua/ranks.lua");

/// Index queries (see `lua/query.lua`).
pub(crate) static QUERY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[Defs(INDEX), Defs(RANKS), Run(include_str!("lua/query.lua"))],
    )
});

/// Forgetting expired instances, alone (see `lua/purge.lua`). It only deletes, so it runs on a
/// server out of memory too.
pub(crate) static PURGE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Purges,
        &[
            Defs(INDEX),
            Run(include_str!("lua/purge.lua")),
            Run("return 1\n"),
        ],
    )
});

/// Index queries of a model whose instances expire: the expired ones are forgotten first.
pub(crate) static QUERY_EXPIRING: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Purges,
        &[
            Defs(INDEX),
            Defs(RANKS),
            Run(include_str!("lua/purge.lua")),
            Run(include_str!("lua/query.lua")),
        ],
    )
});

/// Index rebuilding (see `lua/reindex.lua`).
pub(crate) static REINDEX: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[Defs(INDEX), Run(include_str!("lua/reindex.lua"))],
    )
});

/// Whole-instance delete.
pub(crate) static DELETE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            Defs(INDEX),
            Defs(DELETE_ONE),
            Run("return delete_one(KEYS, ARGV)\n"),
        ],
    )
});

/// The same for several instances in one call.
pub(crate) static DELETE_MANY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            Defs(INDEX),
            Defs(DELETE_ONE),
            Defs(MANY),
            Run("return run_many(delete_one)\n"),
        ],
    )
});

/// Reads whole instances (see `lua/read_instances.lua`).
pub(crate) static READ_INSTANCES: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[Defs(COMMON), Run(include_str!("lua/read_instances.lua"))],
    )
});

/// The same, re-arming the TTL of the instances read (a model with `refresh: read`).
pub(crate) static READ_INSTANCES_REFRESHING: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[Defs(COMMON), Run(include_str!("lua/read_instances.lua"))],
    )
});

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[
            Defs(COMMON),
            Defs(RANKS),
            Run(include_str!("lua/live_pks.lua")),
        ],
    )
});

/// Field operations and pipelines (see `lua/ops.lua`). As a script, the single-op fast path comes
/// first, before the index functions and the general layout are defined (it is the hot path); a
/// library defines them all once.
pub(crate) static OPS: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            Defs(include_str!("lua/ops_compact.lua")),
            Run(include_str!("lua/ops_single.lua")),
            Defs(INDEX),
            Defs(include_str!("lua/ops_lib.lua")),
            Run(include_str!("lua/ops.lua")),
        ],
    )
});

/// Unique claims on a cluster (see `lua/claims.lua`).
pub(crate) static CLAIMS: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[Defs(INDEX), Run(include_str!("lua/claims.lua"))],
    )
});

/// Locks: acquire, release, extend (see `lua/lock.lua`).
pub(crate) static LOCK: LazyLock<Lua> =
    LazyLock::new(|| lua(Access::Writes, &[Run(include_str!("lua/lock.lua"))]));
