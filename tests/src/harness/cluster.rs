//! Private Redis Clusters: `redis-server` processes on free ports, joined with `CLUSTER MEET`,
//! given slots with `CLUSTER ADDSLOTSRANGE` and replicas with `CLUSTER REPLICATE` (no
//! `redis-cli` needed), each node killed by pid when the handle drops. Faults are real: slot
//! migration key by key (`MIGRATING`/`IMPORTING`, `MIGRATE`, `SETSLOT NODE`), failover, `kill -9`.

use std::time::{Duration, Instant};

use redis::{Connection, Value};

use super::server::{RedisServer, Transport};

/// One node of a [`RedisCluster`].
pub struct ClusterNode {
    /// Its process.
    pub server: RedisServer,
    /// False after [`RedisCluster::kill`], until [`RedisCluster::restart`].
    pub alive: bool,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its cluster node id.
    pub id: String,
    /// True when it speaks TLS only (clients, cluster bus and replication).
    pub tls: bool,
}

impl ClusterNode {
    /// `redis://127.0.0.1:<port>/` (`rediss://` on a TLS cluster; `?protocol=resp3` under
    /// `RAPYER_TEST_PROTOCOL=resp3`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        super::test_url(format!("{scheme}://127.0.0.1:{}/", self.port))
    }

    /// A connection to this node alone.
    pub fn conn(&self) -> Connection {
        connect(self.port, self.tls)
    }
}

fn connect(port: u16, tls: bool) -> Connection {
    let client = if tls {
        redis::Client::build_with_tls(
            format!("rediss://127.0.0.1:{port}/"),
            super::tls_files().certificates(),
        )
    } else {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
    };
    client
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("cannot connect to cluster node :{port}: {e}"))
}

/// A private cluster: `masters` masters with `replicas` replicas each.
pub struct RedisCluster {
    /// Masters first (in slot order), then replicas (replica `j` of master `i` is
    /// `masters + i * replicas + j`).
    pub nodes: Vec<ClusterNode>,
    /// Number of masters at start.
    pub masters: usize,
}

/// Configuration of every node: no persistence, fast failure detection, and the settings
/// `docs/cluster.md` recommends (healthy slots keep serving while a master is down).
const NODE_ARGS: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "no",
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "1000",
    "--cluster-require-full-coverage",
    "no",
    "--repl-diskless-sync-delay",
    "0",
];

impl RedisCluster {
    /// Starts the cluster and waits until every node serves every slot and every replica is in
    /// sync.
    pub fn start(masters: usize, replicas: usize) -> RedisCluster {
        Self::start_over(Transport::Tcp, masters, replicas)
    }

    /// Like [`start`](Self::start), every node speaking TLS only (to clients, on the cluster
    /// bus and for replication), with the test CA's certificates.
    pub fn start_tls(masters: usize, replicas: usize) -> RedisCluster {
        Self::start_over(Transport::Tls, masters, replicas)
    }

    fn start_over(transport: Transport, masters: usize, replicas: usize) -> RedisCluster {
        assert!(masters >= 1);
        let total = masters * (1 + replicas);
        let tls = transport == Transport::Tls;
        let mut args = NODE_ARGS.to_vec();
        if tls {
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
        }
        let nodes: Vec<ClusterNode> = (0..total)
            .map(|_| {
                let server = RedisServer::start_with(transport, &args);
                let port = server.port().expect("a TCP node");
                let id: String = redis::cmd("CLUSTER")
                    .arg("MYID")
                    .query(&mut connect(port, tls))
                    .expect("CLUSTER MYID");
                ClusterNode {
                    server,
                    alive: true,
                    port,
                    id,
                    tls,
                }
            })
            .collect();
        let mut first = nodes[0].conn();
        for node in &nodes[1..] {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port)
                .query(&mut first)
                .expect("CLUSTER MEET");
        }
        let per = 16384 / masters as u32;
        for (i, node) in nodes.iter().take(masters).enumerate() {
            let start = i as u32 * per;
            let end = if i + 1 == masters {
                16383
            } else {
                start + per - 1
            };
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(start)
                .arg(end)
                .query(&mut node.conn())
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        let cluster = RedisCluster { nodes, masters };
        cluster.wait(
            Duration::from_secs(20),
            "every node to know every other",
            |c| {
                c.nodes.iter().all(|n| {
                    let text: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query(&mut n.conn())
                        .unwrap_or_default();
                    text.lines().count() == total && !text.contains("handshake")
                })
            },
        );
        for i in 0..masters {
            for j in 0..replicas {
                let replica = &cluster.nodes[masters + i * replicas + j];
                let _: () = redis::cmd("CLUSTER")
                    .arg("REPLICATE")
                    .arg(&cluster.nodes[i].id)
                    .query(&mut replica.conn())
                    .expect("CLUSTER REPLICATE");
            }
        }
        cluster.wait_healthy();
        cluster
    }

    /// Waits until every live node reports `cluster_state:ok` and agrees on who serves every
    /// slot, and every live replica is in sync with its master.
    pub fn wait_healthy(&self) {
        self.wait(Duration::from_secs(30), "the cluster to be healthy", |c| {
            let mut views = Vec::new();
            for n in c.live() {
                let mut conn = n.conn();
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut conn)
                    .unwrap_or_default();
                if !info.contains("cluster_state:ok") {
                    return false;
                }
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut conn)
                    .unwrap_or_default();
                if replication.contains("role:slave")
                    && !replication.contains("master_link_status:up")
                {
                    return false;
                }
                views.push(c.slot_owners(&mut conn));
            }
            views.windows(2).all(|w| w[0] == w[1])
                && views.first().is_some_and(|v| v.len() == 16384)
        });
    }

    fn wait(&self, limit: Duration, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live nodes.
    pub fn live(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.alive)
    }

    /// Seed URLs for a client: every live node.
    pub fn urls(&self) -> Vec<String> {
        self.live().map(ClusterNode::url).collect()
    }

    /// For each slot, the port of the master serving it, as `conn`'s node sees it (slots no one
    /// serves are left out).
    fn slot_owners(&self, conn: &mut Connection) -> Vec<(u16, u16)> {
        let ranges: Vec<Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(conn)
            .unwrap_or_default();
        let mut owners = Vec::new();
        for range in ranges {
            let Value::Array(parts) = range else { continue };
            let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                continue;
            };
            let Some(Value::Int(port)) = master.get(1) else {
                continue;
            };
            for slot in *start..=*end {
                owners.push((slot as u16, *port as u16));
            }
        }
        owners.sort_unstable();
        owners
    }

    /// The index of the node serving `slot` now.
    pub fn owner_of_slot(&self, slot: u16) -> usize {
        let mut conn = self.live().next().expect("a live node").conn();
        let owners = self.slot_owners(&mut conn);
        let port = owners
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("no node serves slot {slot}"));
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .expect("the owner is one of ours")
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.live().next().expect("a live node").conn())
            .expect("CLUSTER KEYSLOT")
    }

    /// The index of the master serving `key` now.
    pub fn owner_of(&self, key: &str) -> usize {
        self.owner_of_slot(self.slot_of(key))
    }

    /// Starts moving `slot` to node `to` (see [`SlotMove`]).
    pub fn begin_move(&self, slot: u16, to: usize) -> SlotMove<'_> {
        // The node asked for the owner may not have heard of the last move yet (gossip): the
        // source then refuses MIGRATING, and the move starts again from the settled owner.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let from = self.owner_of_slot(slot);
            assert_ne!(from, to, "slot {slot} is on node {to} already");
            let (src, dst) = (&self.nodes[from], &self.nodes[to]);
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&src.id)
                .query(&mut dst.conn())
                .expect("SETSLOT IMPORTING");
            let migrating: redis::RedisResult<()> = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("MIGRATING")
                .arg(&dst.id)
                .query(&mut src.conn());
            match migrating {
                Ok(()) => {
                    return SlotMove {
                        cluster: self,
                        slot,
                        from,
                        to,
                    };
                }
                Err(e) if Instant::now() < deadline && e.to_string().contains("not the owner") => {
                    let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
                        .arg("SETSLOT")
                        .arg(slot)
                        .arg("STABLE")
                        .query(&mut dst.conn());
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("SETSLOT MIGRATING: {e}"),
            }
        }
    }

    /// Moves `slot` to node `to` entirely.
    pub fn move_slot(&self, slot: u16, to: usize) {
        let mut m = self.begin_move(slot, to);
        while m.move_keys(100) > 0 {}
        m.finish();
    }

    /// `CLUSTER FAILOVER` on replica `replica`: it becomes the master of its master's slots,
    /// without losing acknowledged writes. Waits until the cluster is healthy again.
    pub fn failover(&self, replica: usize) {
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query(&mut self.nodes[replica].conn())
            .expect("CLUSTER FAILOVER");
        self.wait(Duration::from_secs(20), "the failover", |c| {
            let role: Vec<Value> = redis::cmd("ROLE")
                .query(&mut c.nodes[replica].conn())
                .unwrap_or_default();
            matches!(role.first(), Some(Value::BulkString(r)) if r == b"master")
        });
        self.wait_healthy();
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].server.kill();
        self.nodes[i].alive = false;
    }

    /// Starts node `i` again with its configuration and `nodes.conf`: a killed master rejoins
    /// as a replica of the one promoted in its place.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].server.restart();
        self.nodes[i].alive = true;
    }

    /// The replicas of master `i` as configured at start.
    pub fn replicas_of(&self, i: usize) -> Vec<usize> {
        let replicas = (self.nodes.len() - self.masters) / self.masters;
        (0..replicas)
            .map(|j| self.masters + i * replicas + j)
            .collect()
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node :{}\n{}", n.port, n.server.log()))
            .collect()
    }

    /// Runs `cmd` on every live master (`SCRIPT FLUSH`, say).
    pub fn on_every_master(&self, cmd: &redis::Cmd) {
        for n in self.live() {
            let mut conn = n.conn();
            let role: Vec<Value> = redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
            if matches!(role.first(), Some(Value::BulkString(r)) if r == b"master") {
                let _: Value = cmd.query(&mut conn).expect("command on a master");
            }
        }
    }

    /// Keeps the processes of this cluster from outliving the test process (for a cluster held
    /// in a static, which is never dropped): a shell waits for this process to end, then kills
    /// every node by pid and removes their directories.
    // The reaper must outlive this process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    pub fn reap_at_exit(&self) {
        let pids: Vec<String> = self.live().map(|n| n.server.pid().to_string()).collect();
        let dirs: Vec<String> = self
            .live()
            .map(|n| n.server.dir().display().to_string())
            .collect();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -9 {pids} 2>/dev/null; rm -rf {dirs}",
            me = std::process::id(),
            pids = pids.join(" "),
            dirs = dirs.join(" "),
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cannot start the reaper shell");
    }
}

/// A slot being moved between two masters, key by key, as `redis-cli --cluster reshard` does:
/// while it lasts, commands on the slot's keys meet ASK (a key already moved) and TRYAGAIN (a
/// multi-key command whose keys are split).
pub struct SlotMove<'c> {
    cluster: &'c RedisCluster,
    slot: u16,
    from: usize,
    to: usize,
}

impl SlotMove<'_> {
    /// Moves up to `n` keys of the slot; returns how many moved.
    pub fn move_keys(&mut self, n: usize) -> usize {
        let (src, dst) = (&self.cluster.nodes[self.from], &self.cluster.nodes[self.to]);
        let mut conn = src.conn();
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(self.slot)
            .arg(n)
            .query(&mut conn)
            .expect("GETKEYSINSLOT");
        if keys.is_empty() {
            return 0;
        }
        let _: () = redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(dst.port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query(&mut conn)
            .expect("MIGRATE");
        keys.len()
    }

    /// Ends the move: the destination owns the slot, everywhere.
    pub fn finish(self) {
        let slot = self.slot.to_string();
        let dst = &self.cluster.nodes[self.to];
        // The destination first, then the source, then everyone else (as redis-cli does).
        let mut order = vec![self.to, self.from];
        order.extend((0..self.cluster.nodes.len()).filter(|i| *i != self.to && *i != self.from));
        for i in order {
            let node = &self.cluster.nodes[i];
            if !node.alive {
                continue;
            }
            let _: Value = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(&slot)
                .arg("NODE")
                .arg(&dst.id)
                .query(&mut node.conn())
                .unwrap_or(Value::Nil);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cluster.owner_of_slot(self.slot) != self.to {
            assert!(Instant::now() < deadline, "slot {slot} did not settle");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
