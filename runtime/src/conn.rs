//! How a command reaches Redis, at most once.
//!
//! rapyer talks to one server through redis-rs's `ConnectionManager`, to a cluster through its
//! `ClusterConnection` (with the client's own retries off), and to a master under Sentinel
//! through [`SentinelConnection`](crate::SentinelConnection), all behind [`Connection`]. Every
//! command rapyer sends goes through [`Client::execute`](crate::Client), which owns the one rule
//! that keeps writes exactly-once or honestly unknown:
//!
//! - a reply that proves the command did not run is retried, with jittered backoff, for up to
//!   the client's retry budget: NOSCRIPT (the same call is sent again as an EVAL with the
//!   script's body, to the same node: that runs it and caches it there), MOVED (resent to the
//!   named node), ASK (resent there after `ASKING`), TRYAGAIN, CLUSTERDOWN, MASTERDOWN, LOADING,
//!   READONLY, BUSY, NOREPLICAS, a refused connection and a node the cluster client has no
//!   connection to;
//! - a timeout or a dropped connection after the command was sent leaves its outcome unknown: a
//!   read is retried, and so is a write that has the same effect applied twice (index repair,
//!   the steps of unique claims); any other write never is, and fails with
//!   [`Error::OutcomeUnknown`];
//! - anything else is the answer.
//!
//! With `wait_replicas(n, timeout)`, every write is followed on the same connection of the same
//! node by `WAIT n timeout` (one round trip: both are sent together), and fewer than `n`
//! acknowledgements fail the call with [`Error::NotDurable`].

use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::SingleNodeRoutingInfo;
use redis::{Cmd, ErrorKind, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value};

use crate::addr::NodeAddr;
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::script::Lua;

/// The shared connection of a [`Client`](crate::Client): to one server, or to a cluster. Cheap to
/// clone; clones share it. It implements redis-rs's `ConnectionLike`, for commands rapyer does not
/// wrap (redis-rs's own routing and error handling apply to those).
#[derive(Clone)]
pub enum Connection {
    /// One server (redis-rs `ConnectionManager`: multiplexed, reconnects by itself).
    Single(ConnectionManager),
    /// A cluster (redis-rs `ClusterConnection`: one multiplexed connection per node).
    Cluster(ClusterConnection),
    /// The master of a name under Redis Sentinel, followed through failovers.
    Sentinel(crate::sentinel::SentinelConnection),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Single(_) => f.write_str("Connection::Single"),
            Connection::Cluster(_) => f.write_str("Connection::Cluster"),
            Connection::Sentinel(_) => f.write_str("Connection::Sentinel"),
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
            Connection::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
            Connection::Sentinel(c) => c.get_db(),
        }
    }
}

/// Whether a command can change data: decides what an unknown outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Only reads: safe to send again.
    Reads,
    /// May write: never sent again once its outcome is unknown.
    Writes,
    /// Writes that may be applied twice with the effect of once (index repair, claim steps):
    /// sent again when the outcome is unknown.
    Idempotent,
}

/// One command to run: the command (routed by its first key), the script it calls (for
/// NOSCRIPT), and what it does.
pub(crate) struct Call<'a> {
    pub(crate) cmd: &'a Cmd,
    pub(crate) script: Option<&'a Lua>,
    pub(crate) effect: Effect,
}

impl<'a> Call<'a> {
    /// A call of `script` (built by [`Lua::call`]).
    pub(crate) fn script(script: &'a Lua, cmd: &'a Cmd, effect: Effect) -> Self {
        Call {
            cmd,
            script: Some(script),
            effect,
        }
    }

    /// A plain command that only reads.
    pub(crate) fn read(cmd: &'a Cmd) -> Self {
        Self::plain(cmd, Effect::Reads)
    }

    /// A plain command.
    pub(crate) fn plain(cmd: &'a Cmd, effect: Effect) -> Self {
        Call {
            cmd,
            script: None,
            effect,
        }
    }
}

/// How long and how often not-run commands are retried, and the durability wait.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// How long a command whose replies prove it did not run keeps being retried.
    pub(crate) retry_for: Duration,
    /// `WAIT` after each write: replicas, timeout.
    pub(crate) wait_replicas: Option<(u32, Duration)>,
    /// How long a reserved unique value is held (see [`claims`](crate::claims)).
    pub(crate) unique_lease: Duration,
    /// A simulated fault in the claim protocol (tests).
    pub(crate) claim_fault: Option<ClaimFault>,
    /// Whether scripts are called as functions (shared by the client's clones).
    pub(crate) functions: std::sync::Arc<crate::script::Functions>,
}

/// Where one attempt goes.
#[derive(Debug, Clone)]
enum Target {
    /// Where the connection routes the command's key.
    Routed,
    /// A node named by a redirect; `asking` sends `ASKING` first.
    Node { node: NodeAddr, asking: bool },
}

/// What a failed attempt proves.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The node lacks the script: it did not run.
    NoScript,
    /// The key's slot is served elsewhere: it did not run.
    Redirect {
        node: NodeAddr,
        slot: u16,
        asking: bool,
    },
    /// The server or the client proves it did not run; try again later.
    NotRun,
    /// Sent, but no reply: it may have run.
    Unknown,
    /// The answer.
    Final,
}

impl Failure {
    /// True when the command provably did not run and may be sent again later.
    pub(crate) fn not_run(&self) -> bool {
        matches!(
            self,
            Failure::NotRun | Failure::Redirect { .. } | Failure::NoScript
        )
    }
}

/// What `e` proves about the command that got it.
pub(crate) fn classify(e: &RedisError) -> Failure {
    // A script of someone else's is running: ours was refused, not queued. A master that lost
    // its replicas (`min-replicas-to-write`) refuses writes until a failover ends.
    if matches!(e.code(), Some("BUSY" | "NOREPLICAS")) {
        return Failure::NotRun;
    }
    match e.kind() {
        _ if crate::script::function_missing(e) => Failure::NoScript,
        ErrorKind::Server(kind) => match kind {
            ServerErrorKind::NoScript => Failure::NoScript,
            ServerErrorKind::Moved | ServerErrorKind::Ask => {
                let redirect = e
                    .redirect_node()
                    .and_then(|(addr, slot)| Some((NodeAddr::parse(addr)?, slot)));
                match redirect {
                    Some((node, slot)) => Failure::Redirect {
                        node,
                        slot,
                        asking: kind == ServerErrorKind::Ask,
                    },
                    None => Failure::NotRun,
                }
            }
            ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::ReadOnly => Failure::NotRun,
            _ => Failure::Final,
        },
        ErrorKind::ClusterConnectionNotFound => Failure::NotRun,
        ErrorKind::Io if e.is_connection_refusal() => Failure::NotRun,
        ErrorKind::Io => Failure::Unknown,
        _ => Failure::Final,
    }
}

/// NOSCRIPT is answered by sending the script's body (EVAL), which cannot meet NOSCRIPT; this
/// bounds the answers anyway.
const MAX_LOADS: u32 = 3;

impl Connection {
    /// Sends `cmds` to `target` as one pipeline, after `load` when given (a `FUNCTION LOAD`,
    /// which goes before any `ASKING` so that `ASKING` still precedes the call); one reply per
    /// command (errors as values), `load`'s apart.
    async fn send(
        &mut self,
        target: &Target,
        load: Option<&Cmd>,
        cmds: &[&Cmd],
    ) -> RedisResult<(Option<Value>, Vec<Value>)> {
        // The common case, one command where the client routes it: sent as it is, without
        // copying it into a pipeline.
        if let ([cmd], None, Target::Routed) = (cmds, load, target) {
            return self.req_packed_command(cmd).await.map(|v| (None, vec![v]));
        }
        let mut pipe = redis::pipe();
        if let Some(load) = load {
            pipe.add_command(load.clone());
        }
        let loaded = usize::from(load.is_some());
        let asking = matches!(target, Target::Node { asking: true, .. });
        if asking && matches!(self, Connection::Cluster(_)) {
            pipe.cmd("ASKING");
        }
        for cmd in cmds {
            pipe.add_command((*cmd).clone());
        }
        let mut replies = match (self, target) {
            (Connection::Cluster(c), Target::Node { node, .. }) => {
                let route = SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                };
                let all = pipe.len();
                c.route_pipeline(pipe, 0, all, route).await?
            }
            // A single server never redirects.
            (conn, _) => {
                let all = pipe.len();
                conn.req_packed_commands(&pipe, 0, all).await?
            }
        };
        let load_reply = (loaded == 1).then(|| replies.remove(0));
        if asking {
            replies.remove(0);
        }
        Ok((load_reply, replies))
    }
}

/// Runs `call` on `conn` under `policy` (see the module docs); returns the command's reply.
pub(crate) async fn execute(conn: &Connection, policy: &Policy, call: Call<'_>) -> Result<Value> {
    execute_then(conn, policy, call, &[])
        .await
        .map(|(reply, _)| reply)
}

/// [`execute`], with `then` sent right behind the call in the same round trip (on one server,
/// where nothing redirects; again with every resend of the call): the call's reply, and one
/// reply per command of `then` (errors as values) from the attempt whose call was answered.
pub(crate) async fn execute_then(
    conn: &Connection,
    policy: &Policy,
    call: Call<'_>,
    then: &[Cmd],
) -> Result<(Value, Vec<Value>)> {
    let mut conn = conn.clone();
    let wait = match (call.effect, policy.wait_replicas) {
        (Effect::Writes | Effect::Idempotent, Some((n, timeout))) => {
            let mut wait = redis::cmd("WAIT");
            wait.arg(n)
                .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
            Some((n, wait))
        }
        _ => None,
    };
    let deadline = Instant::now() + policy.retry_for;
    let mut pause = Backoff::outage();
    let mut target = Target::Routed;
    let mut loads = 0;
    // The call as sent when not as given (an FCALL): an EVALSHA for a client without
    // functions, an EVAL with the script's body after a NOSCRIPT.
    let mut resend: Option<Cmd> = call
        .script
        .and_then(|script| script.for_mode(call.cmd, &policy.functions));
    // The library to load first, after "Function not found"; and whether loading it failed.
    let mut load: Option<Cmd> = None;
    let mut load_failed = false;
    loop {
        let first = resend.as_ref().unwrap_or(call.cmd);
        let cmds: Vec<&Cmd> = std::iter::once(first)
            .chain(then)
            .chain(wait.as_ref().map(|(_, wait)| wait))
            .collect();
        let sent = conn.send(&target, load.take().as_ref(), &cmds).await;
        let failure = match sent {
            Ok((load_reply, mut replies)) => {
                if let Some(Err(e)) = load_reply.map(Value::extract_error) {
                    // Another client's load is as good as ours; any other refusal (no
                    // permission, out of memory) sends this call as a script instead.
                    load_failed = !crate::script::already_loaded(&e);
                    policy.functions.refused(&e);
                }
                if replies.len() != cmds.len() {
                    return Err(Error::Redis(no_reply()));
                }
                let reply = replies.remove(0);
                match reply.extract_error() {
                    Ok(value) => {
                        if let Some((wanted, _)) = &wait {
                            check_wait(*wanted, replies.pop().as_ref())?;
                        }
                        return Ok((value, replies));
                    }
                    Err(e) => (classify(&e), e),
                }
            }
            Err(e) => (classify(&e), e),
        };
        match failure {
            (Failure::NoScript, e) => {
                let Some(script) = call.script else {
                    return Err(refusal(e, call.cmd));
                };
                loads += 1;
                if loads > MAX_LOADS {
                    return Err(refusal(e, call.cmd));
                }
                // The node lacks the library or the script (same target either way): load the
                // library with the call, or send the script's body itself. Only the first time:
                // another client's `FUNCTION FLUSH` can come between the load and the call,
                // and the body cannot go missing.
                if crate::script::function_missing(&e) && !load_failed && loads == 1 {
                    load = Some(script.load_command());
                } else {
                    resend = Some(script.eval_command(call.cmd));
                }
            }
            // Functions refused by this server or user: the call goes as a script from now on.
            (Failure::Final, e) if resend.is_none() && call.script.is_some() => {
                match (policy.functions.refused(&e), call.script) {
                    (true, Some(script)) => {
                        resend = script.for_mode(call.cmd, &policy.functions);
                    }
                    _ => return Err(refusal(e, call.cmd)),
                }
            }
            (Failure::Final, e) => return Err(refusal(e, resend.as_ref().unwrap_or(call.cmd))),
            (Failure::Redirect { node, asking, .. }, _) => target = Target::Node { node, asking },
            (Failure::NotRun, e) => {
                target = Target::Routed;
                backoff(&mut pause, deadline, e).await?;
            }
            (Failure::Unknown, e) => match call.effect {
                Effect::Writes => return Err(Error::OutcomeUnknown { source: e }),
                Effect::Reads | Effect::Idempotent => {
                    target = Target::Routed;
                    backoff(&mut pause, deadline, e).await?;
                }
            },
        }
    }
}

/// Runs `reads` (commands that only read) together in one MULTI/EXEC, on one server or a
/// Sentinel's master; returns their replies. As atomic as a read script, without the script's
/// cost: Redis turns every reply a script reads into Lua values and back, which made the read
/// script of a whole instance cost the server about 5x its reads (`INFO commandstats`, see
/// BENCHMARKS.md). Not for a cluster, where MOVED or ASK inside MULTI aborts the transaction
/// with no redirect: there reads stay scripts. Retried like every read, until the retry budget.
pub(crate) async fn read_atomically(
    conn: &Connection,
    policy: &Policy,
    reads: Vec<Cmd>,
) -> Result<Vec<Value>> {
    let mut conn = conn.clone();
    let count = reads.len();
    let multi = redis::cmd("MULTI");
    let mut pipe = redis::pipe();
    pipe.add_command(multi.clone());
    for read in reads {
        pipe.add_command(read);
    }
    pipe.cmd("EXEC");
    let deadline = Instant::now() + policy.retry_for;
    let mut pause = Backoff::outage();
    loop {
        // The first error names its cause: MULTI's, a queued command's (the server then aborts
        // the transaction), or EXEC's.
        let failure = match conn.req_packed_commands(&pipe, 0, count + 2).await {
            Ok(replies) => {
                let mut replies = replies.into_iter().zip(pipe.cmd_iter());
                let refused = replies
                    .by_ref()
                    .take(count + 1)
                    .find_map(|(reply, cmd)| reply.extract_error().err().map(|e| (e, cmd)));
                match (refused, replies.next()) {
                    (Some(refused), _) => refused,
                    (None, Some((exec, cmd))) => match exec.extract_error() {
                        Ok(Value::Array(values)) if values.len() == count => return Ok(values),
                        Ok(other) => {
                            return Err(crate::reply::unexpected(
                                "(a transaction of reads)",
                                "one reply per read",
                                &other,
                            ));
                        }
                        Err(e) => (e, cmd),
                    },
                    (None, None) => return Err(Error::Redis(no_reply())),
                }
            }
            Err(e) => (e, &multi),
        };
        let (e, cmd) = failure;
        match classify(&e) {
            Failure::Final => return Err(refusal(e, cmd)),
            // Nothing is written: a read is always safe to send again.
            _ => backoff(&mut pause, deadline, e).await?,
        }
    }
}

/// `e` (from sending `cmd`) as an error; a permission refusal names the command and its keys.
fn refusal(e: RedisError, cmd: &Cmd) -> Error {
    match Error::from(e) {
        Error::NoPermission {
            command, message, ..
        } => {
            let args: Vec<String> = cmd
                .args_iter()
                .filter_map(|a| match a {
                    redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                    _ => None,
                })
                .collect();
            let name = args.first().map(|n| n.to_uppercase()).unwrap_or_default();
            let keys = match name.as_str() {
                // FCALL name numkeys key..., EVALSHA sha numkeys key...
                "FCALL" | "EVALSHA" | "EVAL" => {
                    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                    args.iter().skip(3).take(n).cloned().collect()
                }
                _ => args.get(1).cloned().into_iter().collect(),
            };
            // The server names the command when the command itself is refused; otherwise
            // (a key refused) it is the one sent.
            let command = if command == "a command" || command == name {
                name
            } else {
                format!("{command} (called by {name})")
            };
            Error::NoPermission {
                command,
                keys,
                message,
            }
        }
        other => other,
    }
}

/// Waits out an outage (the next pause of `pause`), or gives up with `last` past `deadline`.
pub(crate) async fn backoff(
    pause: &mut Backoff,
    deadline: Instant,
    last: RedisError,
) -> Result<()> {
    if pause.pause(Some(deadline)).await {
        Ok(())
    } else {
        Err(Error::Unavailable { source: last })
    }
}

/// Checks the reply of `WAIT`: at least `wanted` replicas acknowledged.
pub(crate) fn check_wait(wanted: u32, reply: Option<&Value>) -> Result<()> {
    let acked = match reply {
        Some(Value::Int(n)) => *n,
        _ => 0,
    };
    if acked >= i64::from(wanted) {
        return Ok(());
    }
    Err(Error::NotDurable {
        acked: u32::try_from(acked).unwrap_or(0),
        wanted,
    })
}

fn no_reply() -> RedisError {
    RedisError::from((ErrorKind::Client, "no reply to a command"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(text: &str) -> RedisError {
        redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
            .and_then(Value::extract_error)
            .unwrap_err()
    }

    #[test]
    fn only_replies_that_prove_nothing_ran_are_retried() {
        assert!(matches!(
            classify(&server_error("NOSCRIPT No matching script")),
            Failure::NoScript
        ));
        match classify(&server_error("MOVED 749 127.0.0.1:30002")) {
            Failure::Redirect { node, slot, asking } => {
                assert_eq!(node, NodeAddr::parse("127.0.0.1:30002").unwrap());
                assert_eq!(slot, 749);
                assert!(!asking);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&server_error("ASK 749 [::1]:30002")),
            Failure::Redirect { asking: true, node, .. } if node.host == "::1" && node.port == 30002
        ));
        for text in [
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "MASTERDOWN Link with MASTER is down",
            "LOADING Redis is loading the dataset in memory",
            "READONLY You can't write against a read only replica.",
            "BUSY Redis is busy running a script.",
            "NOREPLICAS Not enough good replicas to write.",
        ] {
            assert!(
                matches!(classify(&server_error(text)), Failure::NotRun),
                "{text}"
            );
        }
        for text in [
            "ERR something",
            "RAPYER_TYPE 1 x",
            "OOM command not allowed",
        ] {
            assert!(
                matches!(classify(&server_error(text)), Failure::Final),
                "{text}"
            );
        }
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(classify(&timeout), Failure::Unknown));
        let dropped = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(classify(&dropped), Failure::Unknown));
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(classify(&refused), Failure::NotRun));
    }

    #[test]
    fn wait_replies_are_checked() {
        assert!(check_wait(1, Some(&Value::Int(1))).is_ok());
        assert!(check_wait(1, Some(&Value::Int(2))).is_ok());
        assert!(matches!(
            check_wait(2, Some(&Value::Int(1))),
            Err(Error::NotDurable {
                acked: 1,
                wanted: 2
            })
        ));
        assert!(matches!(
            check_wait(1, None),
            Err(Error::NotDurable { acked: 0, .. })
        ));
    }
}

/// A step of the claim protocol at which a test can make rapyer stop, as if the process died.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFault {
    /// Stop after reserving.
    CrashAfterReserve,
    /// Stop after writing the instance.
    CrashAfterWrite,
    /// Stop after confirming, before releasing the old value.
    CrashAfterConfirm,
    /// Wait this long between reserving and writing.
    DelayWrite(Duration),
}
