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

/// Whole-instance insert/save (see `lua/write_instance.lua`).
pub(crate) static WRITE_INSTANCE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(include_str!("lua/write_instance.lua")));

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(include_str!("lua/live_pks.lua")));

/// Field operations and pipelines (see `lua/ops.lua`).
pub(crate) static OPS: LazyLock<Lua> = LazyLock::new(|| Lua::new(include_str!("lua/ops.lua")));

/// Error code the write script returns when `insert` finds the instance.
pub(crate) const EXISTS_CODE: &str = "RAPYER_EXISTS";
