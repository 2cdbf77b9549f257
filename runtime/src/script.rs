//! One Lua script and how it is sent. Each script exists in two forms built from the same files:
//!
//! - a Redis Functions library (`FUNCTION LOAD`, then `FCALL`), the default: the shared
//!   definitions (the protocol's codes, the index functions...) run once, when the library is
//!   loaded, instead of on every call. Defining them cost the server about 7.5 us per call of the
//!   field operations script, a third of a small batch's cost (see BENCHMARKS.md);
//! - a script (`EVALSHA`, or `EVAL` with its body after a NOSCRIPT), for a server or a user that
//!   cannot run functions (an ACL rule without `FCALL` or `FUNCTION LOAD`).
//!
//! Both run the same Lua, so they answer alike. The scripts themselves are in
//! [`scripts`](crate::scripts).

use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionLike;
use redis::{Cmd, RedisResult};

/// One part of a script's text.
#[derive(Clone, Copy)]
pub(crate) enum Part<'a> {
    /// Definitions only (functions and constants; no statement may touch Redis, KEYS or ARGV):
    /// a library runs them once, at load.
    Defs(&'a str),
    /// Statements that run on every call (they end with a `return`).
    Run(&'a str),
}

/// A Lua script in both forms (see the module docs).
pub(crate) struct Lua {
    body: String,
    sha: String,
    library: String,
    /// The function's name, which is also its library's: `rapyer_` and the script's SHA1, so
    /// that two versions of rapyer sharing a server never replace each other's functions.
    function: String,
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
    /// The script of `parts` after `prelude` (definitions too), with the flags `access` needs.
    pub(crate) fn new(access: Access, prelude: &str, parts: &[Part<'_>]) -> Self {
        let (shebang, flags) = match access {
            Access::Writes => ("#!lua\n", ""),
            Access::ReadsOnly => ("#!lua flags=no-writes\n", "'no-writes'"),
            Access::Purges => ("#!lua flags=allow-oom\n", "'allow-oom'"),
        };
        // The script: every part in order, at the top level.
        let mut body = String::from(shebang);
        body.push_str(prelude);
        for part in parts {
            match part {
                Part::Defs(text) | Part::Run(text) => body.push_str(text),
            }
        }
        let sha = redis::Script::new(&body).get_hash().to_string();
        let function = format!("rapyer_{sha}");
        // The library: the definitions at the top level, the statements in one function that
        // the registered callback calls with its KEYS and ARGV (upvalues of every definition,
        // so the same text reads them in both forms).
        let mut library = format!("#!lua name={function}\nlocal KEYS, ARGV\n{prelude}");
        for part in parts {
            if let Part::Defs(text) = part {
                library.push_str(text);
            }
        }
        library.push_str("local function run()\n");
        for part in parts {
            if let Part::Run(text) = part {
                library.push_str(text);
            }
        }
        library.push_str(&format!(
            "end\nredis.register_function{{function_name = '{function}', flags = {{ {flags} }},\n  \
             callback = function(keys, args)\n    KEYS, ARGV = keys, args\n    return run()\n  end}}\n"
        ));
        Lua {
            body,
            sha,
            library,
            function,
        }
    }

    /// A call of this script with `keys` (arguments are added by the caller): an `FCALL`, which
    /// [`Lua::for_mode`] turns into an `EVALSHA` for a client without functions.
    pub(crate) fn call<K: redis::ToRedisArgs>(&self, keys: &[K]) -> Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&self.function).arg(keys.len()).arg(keys);
        cmd
    }

    /// The script's full text, as `EVAL` sends it.
    pub(crate) fn body(&self) -> &str {
        &self.body
    }

    /// The library's text, as `FUNCTION LOAD` sends it, and the function's name.
    pub(crate) fn library(&self) -> (&str, &str) {
        (&self.library, &self.function)
    }

    /// `call` (built by [`Lua::call`]) with its first two words replaced by `head`.
    fn rewrite(call: &Cmd, head: [&[u8]; 2]) -> Cmd {
        let mut cmd = redis::cmd(std::str::from_utf8(head[0]).unwrap_or("EVALSHA"));
        cmd.arg(head[1]);
        for arg in call.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                cmd.arg(bytes);
            }
        }
        cmd
    }

    /// `call` as `mode` sends it: unchanged with functions, as an `EVALSHA` without.
    pub(crate) fn for_mode(&self, call: &Cmd, mode: &Functions) -> Option<Cmd> {
        (!mode.enabled()).then(|| Self::rewrite(call, [b"EVALSHA", self.sha.as_bytes()]))
    }

    /// `call` as an EVAL carrying the script's body: it runs the script and leaves it in the
    /// node's cache, in one step that no `SCRIPT FLUSH` can come between.
    pub(crate) fn eval_command(&self, call: &Cmd) -> Cmd {
        Self::rewrite(call, [b"EVAL", self.body.as_bytes()])
    }

    /// The command that loads the library on a server (answered by an error naming an existing
    /// library when another client loaded it first, which is as good).
    pub(crate) fn load_command(&self) -> Cmd {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg(&self.library);
        cmd
    }

    /// Makes this script callable through `conn` in `mode`: loads the library (or, without
    /// functions, the script) on the server. Errors are as the server gave them, except that
    /// a library another client loaded first is not one; a server or user that cannot load
    /// functions turns `mode` off first (see [`Functions::refused`]).
    pub(crate) async fn load<C: ConnectionLike>(
        &self,
        conn: &mut C,
        mode: &Functions,
    ) -> RedisResult<()> {
        if mode.enabled() {
            match self.load_command().query_async::<()>(conn).await {
                Ok(()) => return Ok(()),
                Err(e) if already_loaded(&e) => return Ok(()),
                Err(e) if !mode.refused(&e) => return Err(e),
                Err(_) => {}
            }
        }
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(&self.body);
        cmd.query_async::<()>(conn).await
    }
}

/// Whether `e`, the answer to a `FUNCTION LOAD`, says the library was there already.
pub(crate) fn already_loaded(e: &redis::RedisError) -> bool {
    e.detail().is_some_and(|d| d.contains("already exists"))
}

/// Whether `e` says the function called is not loaded on the node (so it did not run).
pub(crate) fn function_missing(e: &redis::RedisError) -> bool {
    e.code() == Some("ERR")
        && e.detail()
            .is_some_and(|d| d.starts_with("Function not found"))
}

/// Whether a client calls its scripts as functions: on by default; turned off for good, for
/// this client, the first time the server or the user refuses them (see [`Functions::refused`])
/// or by [`ClientBuilder::functions`](crate::ClientBuilder::functions).
#[derive(Debug)]
pub(crate) struct Functions(AtomicBool);

impl Functions {
    /// Functions on or off.
    pub(crate) fn new(on: bool) -> Self {
        Functions(AtomicBool::new(on))
    }

    /// Whether scripts are called as functions.
    pub(crate) fn enabled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether `e`, the answer to an `FCALL` or a `FUNCTION LOAD`, says this server or user
    /// cannot run functions (no ACL permission, an unknown command); if so, functions are off
    /// from now on and the caller sends the script instead. Nothing ran either way.
    pub(crate) fn refused(&self, e: &redis::RedisError) -> bool {
        let refused = match e.code() {
            Some("NOPERM") => e
                .detail()
                .is_some_and(|d| d.contains("'fcall'") || d.contains("'function")),
            Some("ERR") => e.detail().is_some_and(|d| {
                d.starts_with("unknown command") || d.starts_with("unknown subcommand")
            }),
            _ => false,
        };
        if refused {
            self.0.store(false, Ordering::Relaxed);
        }
        refused
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
