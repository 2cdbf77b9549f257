//! The Lua scripts rapyer runs, and how they are sent: EVALSHA. A server that lost its script
//! cache (restart, failover, `SCRIPT FLUSH`) answers NOSCRIPT, which means the script did not run
//! at all; the same call is then sent again as an EVAL with the script's body, which runs it and
//! caches it on that node, so every call runs exactly once (see `conn::execute`).
//!
//! Every script starts with a `#!lua` line (with `flags=no-writes` for those that only read):
//! on Redis Cluster such a script may only touch the keys it declares, so a key of another slot
//! fails loudly instead of working by accident while two slots share a node. Then comes the
//! generated prelude of [`protocol`](crate::protocol) (the codes shared with Rust), then the
//! script's own files.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisResult};

use crate::protocol;

/// A Lua script and its SHA1.
pub(crate) struct Lua {
    body: String,
    sha: String,
}

/// Whether a script writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Writes,
    ReadsOnly,
}

impl Lua {
    fn new(access: Access, files: &[&str]) -> Self {
        let shebang = match access {
            Access::Writes => "#!lua\n",
            Access::ReadsOnly => "#!lua flags=no-writes\n",
        };
        let mut body = String::from(shebang);
        body.push_str(&protocol::lua_prelude());
        for file in files {
            body.push_str(file);
        }
        let sha = redis::Script::new(&body).get_hash().to_string();
        Lua { body, sha }
    }

    /// An EVALSHA command for this script with `keys`; arguments are added by the caller.
    pub(crate) fn call<K: redis::ToRedisArgs>(&self, keys: &[K]) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(keys.len()).arg(keys);
        cmd
    }

    /// The script's full text, as loaded.
    pub(crate) fn body(&self) -> &str {
        &self.body
    }

    /// `call` (built by [`Lua::call`]) as an EVAL carrying the script's body: it runs the script
    /// and leaves it in the node's cache, in one step that no `SCRIPT FLUSH` can come between.
    pub(crate) fn eval_command(&self, call: &Cmd) -> Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(&self.body);
        for arg in call.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                cmd.arg(bytes);
            }
        }
        cmd
    }

    /// The command that loads the script into a server's cache.
    pub(crate) fn load_command(&self) -> Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(&self.body);
        cmd
    }

    /// Loads the script into the server's cache (SCRIPT LOAD) through `conn`.
    pub(crate) async fn load<C: ConnectionLike>(&self, conn: &mut C) -> RedisResult<()> {
        self.load_command().query_async::<()>(conn).await
    }

    /// Sends `cmd` (built by [`Lua::call`]) on a connection of one node (a dedicated one; the
    /// shared connection goes through `Client::execute`), loading the script when the server
    /// lacks it.
    pub(crate) async fn invoke<T: FromRedisValue, C: ConnectionLike>(
        &self,
        cmd: &Cmd,
        conn: &mut C,
    ) -> RedisResult<T> {
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            match cmd.query_async(conn).await {
                Err(e) if e.code() == Some("NOSCRIPT") && attempt < ATTEMPTS => {
                    attempt += 1;
                    self.load(conn).await?;
                }
                result => return result,
            }
        }
    }
}

/// Index maintenance functions, shared by every script that writes an instance.
const INDEX: &str = include_str!("lua/index.lua");

/// Whole-instance insert/save (see `lua/write_instance.lua`).
pub(crate) static WRITE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        Access::Writes,
        &[INDEX, include_str!("lua/write_instance.lua")],
    )
});

/// Positions in sorted sets, for queries and paging (see `lua/ranks.lua`).
const RANKS: &str = include_str!("lua/ranks.lua");

/// Index queries (see `lua/query.lua`).
pub(crate) static QUERY: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(Access::ReadsOnly, &[RANKS, include_str!("lua/query.lua")]));

/// Index rebuilding (see `lua/reindex.lua`).
pub(crate) static REINDEX: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(Access::Writes, &[INDEX, include_str!("lua/reindex.lua")]));

/// Whole-instance delete (see `lua/delete_instance.lua`).
pub(crate) static DELETE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        Access::Writes,
        &[INDEX, include_str!("lua/delete_instance.lua")],
    )
});

/// Reads whole instances (see `lua/read_instances.lua`).
pub(crate) static READ_INSTANCES: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(Access::ReadsOnly, &[include_str!("lua/read_instances.lua")]));

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        Access::ReadsOnly,
        &[RANKS, include_str!("lua/live_pks.lua")],
    )
});

/// Field operations and pipelines (see `lua/ops.lua`). The single-op fast path comes first,
/// before the index functions and the general layout are defined (it is the hot path).
pub(crate) static OPS: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        Access::Writes,
        &[
            include_str!("lua/ops_single.lua"),
            INDEX,
            include_str!("lua/ops.lua"),
        ],
    )
});

/// Unique claims on a cluster (see `lua/claims.lua`).
pub(crate) static CLAIMS: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(Access::Writes, &[INDEX, include_str!("lua/claims.lua")]));

/// Locks: acquire, release, extend (see `lua/lock.lua`).
pub(crate) static LOCK: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(Access::Writes, &[include_str!("lua/lock.lua")]));
