//! The Lua scripts rapyer runs, and how they are sent: always EVALSHA. A server that lost its
//! script cache (restart, failover, `SCRIPT FLUSH`) answers NOSCRIPT, which means the script did
//! not run at all; the script is then loaded and the same call sent again, so every call runs
//! exactly once. Several attempts are allowed, in case the cache is flushed again in between.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisResult};

/// A Lua script and its SHA1.
pub(crate) struct Lua {
    body: &'static str,
    sha: String,
}

impl Lua {
    fn new(body: &'static str) -> Self {
        Lua {
            body,
            sha: redis::Script::new(body).get_hash().to_string(),
        }
    }

    /// An EVALSHA command for this script with `keys`; arguments are added by the caller.
    pub(crate) fn call<K: redis::ToRedisArgs>(&self, keys: &[K]) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(keys.len()).arg(keys);
        cmd
    }

    /// Loads the script into the server's cache (SCRIPT LOAD).
    pub(crate) async fn load<C: ConnectionLike>(&self, conn: &mut C) -> RedisResult<()> {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.body)
            .query_async::<()>(conn)
            .await
    }

    /// Sends `cmd` (built by [`Lua::call`]), loading the script when the server lacks it.
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
                    redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(self.body)
                        .query_async::<()>(conn)
                        .await?;
                }
                result => return result,
            }
        }
    }
}

/// Index maintenance functions, prepended to every script that writes.
macro_rules! with_index_prelude {
    ($($file:literal),+) => {
        concat!(include_str!("lua/index.lua"), $(include_str!($file)),+)
    };
}

/// Whole-instance insert/save (see `lua/write_instance.lua`).
pub(crate) static WRITE_INSTANCE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(with_index_prelude!("lua/write_instance.lua")));

/// Index queries (see `lua/query.lua`; it uses the prelude's pk escaping).
pub(crate) static QUERY: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(with_index_prelude!("lua/query.lua")));

/// Index rebuilding (see `lua/reindex.lua`).
pub(crate) static REINDEX: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(with_index_prelude!("lua/reindex.lua")));

/// Whole-instance delete (see `lua/delete_instance.lua`).
pub(crate) static DELETE_INSTANCE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(with_index_prelude!("lua/delete_instance.lua")));

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(include_str!("lua/live_pks.lua")));

/// Field operations and pipelines (see `lua/ops.lua`).
/// The single-op fast path comes first, before anything else is defined (it is the hot path).
pub(crate) static OPS: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(concat!(
        include_str!("lua/ops_single.lua"),
        include_str!("lua/index.lua"),
        include_str!("lua/ops.lua")
    ))
});

/// Error code of a write whose required lock no longer holds the token.
pub(crate) const LOCK_LOST_CODE: &str = "RAPYER_LOCKLOST";

/// Locks: acquire, release, extend (see `lua/lock.lua`).
pub(crate) static LOCK: LazyLock<Lua> = LazyLock::new(|| Lua::new(include_str!("lua/lock.lua")));

/// Error code the write script returns when `insert` finds the instance.
pub(crate) const EXISTS_CODE: &str = "RAPYER_EXISTS";
/// Error code of a unique value held by another instance: `RAPYER_UNIQUE <n> <len>:<holder><value>`.
pub(crate) const UNIQUE_CODE: &str = "RAPYER_UNIQUE";

/// Splits the `<len>:<holder><value>` detail of a unique violation.
pub(crate) fn unique_detail(detail: &str) -> Option<(String, String)> {
    let (len, rest) = detail.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let holder = rest.get(..len)?;
    Some((holder.to_string(), rest[len..].to_string()))
}
