//! One Lua script and how it is sent: EVALSHA, EVAL with its body after a NOSCRIPT, SCRIPT LOAD.
//! The scripts themselves are in [`scripts`](crate::scripts).

use redis::aio::ConnectionLike;
use redis::{Cmd, RedisResult};

/// A Lua script and its SHA1.
pub(crate) struct Lua {
    body: String,
    sha: String,
}

/// Whether a script writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writes,
    ReadsOnly,
    /// Writes that only delete (forgetting expired instances): allowed on a server out of
    /// memory, where reads must keep working.
    Purges,
}

impl Lua {
    /// The script of `files` after `prelude`, with the `#!lua` line `access` needs.
    pub(crate) fn new(access: Access, prelude: &str, files: &[&str]) -> Self {
        let shebang = match access {
            Access::Writes => "#!lua\n",
            Access::ReadsOnly => "#!lua flags=no-writes\n",
            Access::Purges => "#!lua flags=allow-oom\n",
        };
        let mut body = String::from(shebang);
        body.push_str(prelude);
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
}

/// A script call's KEYS and ARGV, kept apart from a command so that the calls of several
/// instances can also be sent as one (see `lua/many.lua`).
#[derive(Debug, Default)]
pub(crate) struct ScriptArgs {
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<Vec<u8>>,
}

impl ScriptArgs {
    /// A call with these KEYS and no arguments yet.
    pub(crate) fn new(keys: &[&str]) -> Self {
        ScriptArgs {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            args: Vec::new(),
        }
    }

    /// Appends an argument (several for a value that writes several, as `Cmd::arg` does).
    pub(crate) fn arg<T: redis::ToRedisArgs>(&mut self, value: T) -> &mut Self {
        self.args.extend(value.to_redis_args());
        self
    }

    /// The call of `script` with these KEYS and ARGV.
    pub(crate) fn command(&self, script: &Lua) -> Cmd {
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        let mut cmd = script.call(&keys);
        cmd.arg(&self.args);
        cmd
    }
}
