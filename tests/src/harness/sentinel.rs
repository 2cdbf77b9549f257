//! A private Sentinel setup: a master and a replica (`redis-server`), and three sentinels
//! (`redis-server --sentinel`) watching them under the name `mymaster`, with fast failure
//! detection. Every process is killed by pid when the handle drops. Faults are real:
//! `SENTINEL FAILOVER`, `kill -9` of the master.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{RedisServer, Transport, free_port, redis_server_binary};

/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "mymaster";

/// One sentinel process.
struct Sentinel {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A master, a replica and three sentinels.
pub struct SentinelSetup {
    /// The two data servers; which one is master changes with failovers.
    pub servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
    /// True when every process speaks TLS only (clients, replication, sentinels).
    tls: bool,
}

fn conn(port: u16, tls: bool) -> redis::RedisResult<redis::Connection> {
    let client = if tls {
        redis::Client::build_with_tls(
            format!("rediss://127.0.0.1:{port}/"),
            super::tls_files().certificates(),
        )?
    } else {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
    };
    client.get_connection_with_timeout(Duration::from_millis(500))
}

fn wait(limit: Duration, what: &str, mut ready: impl FnMut() -> bool, logs: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; logs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl SentinelSetup {
    /// Starts the master, its replica (in sync) and three sentinels that know each other and
    /// the replica.
    pub fn start() -> SentinelSetup {
        Self::start_over(false)
    }

    /// Like [`start`](Self::start), every process speaking TLS only (to clients, for
    /// replication, between sentinels), with the test CA's certificates.
    pub fn start_tls() -> SentinelSetup {
        Self::start_over(true)
    }

    fn start_over(tls: bool) -> SentinelSetup {
        let mut none = vec![
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ];
        let transport = if tls {
            none.extend(["--tls-replication", "yes"]);
            Transport::Tls
        } else {
            Transport::Tcp
        };
        let master = RedisServer::start_with(transport, &none);
        let master_port = master.port().expect("a TCP master");
        let replicaof = master_port.to_string();
        let mut args = none.clone();
        args.extend(["--replicaof", "127.0.0.1", &replicaof]);
        let replica = RedisServer::start_with(transport, &args);
        let sentinels = (0..3).map(|_| start_sentinel(master_port, tls)).collect();
        let setup = SentinelSetup {
            servers: vec![master, replica],
            sentinels,
            tls,
        };
        setup.wait_ready();
        setup
    }

    /// Every sentinel sees the replica (in sync) and the two other sentinels.
    fn wait_ready(&self) {
        wait(
            Duration::from_secs(30),
            "the sentinels to know each other and the replica",
            || {
                self.sentinels.iter().all(|s| {
                    let Ok(mut c) = conn(s.port, self.tls) else {
                        return false;
                    };
                    let replicas: Vec<redis::Value> = redis::cmd("SENTINEL")
                        .arg("REPLICAS")
                        .arg(MASTER_NAME)
                        .query(&mut c)
                        .unwrap_or_default();
                    let others: Vec<redis::Value> = redis::cmd("SENTINEL")
                        .arg("SENTINELS")
                        .arg(MASTER_NAME)
                        .query(&mut c)
                        .unwrap_or_default();
                    replicas.len() == 1 && others.len() == 2
                }) && self.replica_in_sync()
            },
            || self.logs(),
        );
    }

    fn replica_in_sync(&self) -> bool {
        self.servers.iter().any(|s| {
            let info: String = conn(s.port().unwrap_or(0), self.tls)
                .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c))
                .unwrap_or_default();
            info.contains("role:slave") && info.contains("master_link_status:up")
        })
    }

    /// `redis://127.0.0.1:<port>` of every sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| {
                let scheme = if self.tls { "rediss" } else { "redis" };
                super::test_url(format!("{scheme}://127.0.0.1:{}/", s.port))
            })
            .collect()
    }

    /// The port of the master, as the first sentinel that answers names it.
    pub fn master_port(&self) -> u16 {
        for s in &self.sentinels {
            let answer: redis::RedisResult<(String, u16)> =
                conn(s.port, self.tls).and_then(|mut c| {
                    redis::cmd("SENTINEL")
                        .arg("GET-MASTER-ADDR-BY-NAME")
                        .arg(MASTER_NAME)
                        .query(&mut c)
                });
            if let Ok((_, port)) = answer {
                return port;
            }
        }
        panic!("no sentinel names a master; logs:\n{}", self.logs())
    }

    /// Index in `servers` of the server on `port`.
    fn index_of(&self, port: u16) -> usize {
        self.servers
            .iter()
            .position(|s| s.port() == Some(port))
            .expect("a server of the setup")
    }

    /// Waits until the sentinels name a master other than `old` and it serves as one.
    pub fn wait_new_master(&self, old: u16) -> u16 {
        let mut new = old;
        wait(
            Duration::from_secs(30),
            "the sentinels to promote the replica",
            || {
                new = self.master_port();
                new != old
                    && conn(new, self.tls)
                        .and_then(|mut c| redis::cmd("ROLE").query::<Vec<redis::Value>>(&mut c))
                        .map(|role| {
                            matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master")
                        })
                        .unwrap_or(false)
            },
            || self.logs(),
        );
        new
    }

    /// `SENTINEL FAILOVER`: the replica becomes master, the master its replica. Returns the new
    /// master's port once it serves.
    pub fn failover(&self) -> u16 {
        let old = self.master_port();
        let _: () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER_NAME)
            .query(&mut conn(self.sentinels[0].port, self.tls).expect("sentinel"))
            .expect("SENTINEL FAILOVER");
        self.wait_new_master(old)
    }

    /// `kill -9` of the master; returns its index in `servers`.
    pub fn kill_master(&mut self) -> usize {
        let i = self.index_of(self.master_port());
        self.servers[i].kill();
        i
    }

    /// Starts server `i` again (as it was configured); the sentinels make it a replica.
    pub fn restart(&mut self, i: usize) {
        self.servers[i].restart();
    }

    /// Waits until a replica is in sync with the master again.
    pub fn wait_replica_in_sync(&self) {
        wait(
            Duration::from_secs(30),
            "a replica in sync",
            || self.replica_in_sync(),
            || self.logs(),
        );
    }

    /// Every process's log.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            out += &format!("--- server {:?}\n{}", s.port(), s.log());
        }
        for s in &self.sentinels {
            let log =
                std::fs::read_to_string(s.dir.path().join("sentinel.log")).unwrap_or_default();
            out += &format!("--- sentinel {}\n{log}", s.port);
        }
        out
    }
}

fn start_sentinel(master_port: u16, tls: bool) -> Sentinel {
    let dir = tempfile::Builder::new()
        .prefix("rapyer-sentinel-")
        .tempdir()
        .expect("temp dir");
    let port = free_port();
    let conf = dir.path().join("sentinel.conf");
    let listen = if tls {
        super::tls_files().sentinel_conf(port)
    } else {
        format!("port {port}\n")
    };
    let text = format!(
        "{listen}bind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
         sentinel resolve-hostnames no\n\
         sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
         sentinel failover-timeout {MASTER_NAME} 5000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        dir = dir.path().display()
    );
    std::fs::write(&conf, text).expect("sentinel.conf");
    let child = Command::new(redis_server_binary())
        .arg(&conf)
        .arg("--sentinel")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start redis-server --sentinel");
    let sentinel = Sentinel { child, dir, port };
    wait(
        Duration::from_secs(10),
        "a sentinel to start",
        || {
            conn(port, tls)
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        },
        String::new,
    );
    sentinel
}
