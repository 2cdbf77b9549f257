//! Test servers: every test gets its own `redis-server` (unix socket in a temp dir, or TCP on a
//! free port), killed when the handle drops. `REDIS_URL` points the suite at an external server
//! instead; each test then works under its own random key namespace.
//!
//! A missing `redis-server` is a loud failure, never a skip: run `scripts/setup.sh`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private Redis server process.
pub struct RedisServer {
    child: Child,
    dir: tempfile::TempDir,
    /// How to reach it.
    pub url: String,
    args: Vec<String>,
}

/// How to reach a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A unix socket in the server's temp dir.
    Unix,
    /// TCP on 127.0.0.1 and a free port.
    Tcp,
}

fn redis_server_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("redis-server"))
                .find(|p| p.is_file())
        })
        .unwrap_or(None);
    found.unwrap_or_else(|| {
        panic!("redis-server is not installed: run `bash scripts/setup.sh` (or set REDIS_URL to a running server)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free TCP port")
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start(transport: Transport) -> RedisServer {
        Self::start_with(transport, &["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with extra configuration arguments (`--appendonly yes`, ...).
    pub fn start_with(transport: Transport, extra: &[&str]) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("rapyer-redis-")
            .tempdir()
            .expect("temp dir");
        let (mut args, url) = match transport {
            Transport::Unix => {
                let sock = dir.path().join("redis.sock");
                let url = format!("redis+unix://{}", sock.display());
                (
                    vec![
                        "--port".into(),
                        "0".into(),
                        "--unixsocket".into(),
                        sock.display().to_string(),
                        "--unixsocketperm".into(),
                        "700".into(),
                    ],
                    url,
                )
            }
            Transport::Tcp => {
                let port = free_port();
                (
                    vec![
                        "--port".into(),
                        port.to_string(),
                        "--bind".into(),
                        "127.0.0.1".into(),
                    ],
                    format!("redis://127.0.0.1:{port}/"),
                )
            }
        };
        args.extend([
            "--dir".to_string(),
            dir.path().display().to_string(),
            "--daemonize".into(),
            "no".into(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = spawn(&args, &dir);
        let server = RedisServer {
            child,
            dir,
            url,
            args,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = redis::Client::open(self.url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ready.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no shutdown save).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again with the same configuration, directory and address.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.args, &self.dir);
        self.wait_ready();
    }
}

fn spawn(args: &[String], dir: &tempfile::TempDir) -> Child {
    let mut full = args.to_vec();
    full.extend([
        "--logfile".to_string(),
        dir.path().join("redis.log").display().to_string(),
    ]);
    Command::new(redis_server_binary())
        .args(&full)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start redis-server")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client for one test, with the server it talks to (if private).
pub struct TestRedis {
    /// The private server; `None` under `REDIS_URL`.
    pub server: Option<RedisServer>,
    /// A rapyer client (namespaced under `REDIS_URL`).
    pub client: rapyer::Client,
    /// The URL in use.
    pub url: String,
    /// The key namespace in use, if any.
    pub namespace: Option<String>,
}

impl TestRedis {
    /// A private server over a unix socket, or the `REDIS_URL` server under a fresh namespace.
    pub async fn new() -> TestRedis {
        Self::with(Transport::Unix).await
    }

    /// Like [`TestRedis::new`], choosing the transport of the private server.
    pub async fn with(transport: Transport) -> TestRedis {
        let (server, url, namespace) = match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => (None, url, Some(format!("t{}", uuid_like()))),
            _ => {
                let server = RedisServer::start(transport);
                let url = server.url.clone();
                (Some(server), url, None)
            }
        };
        let mut builder = rapyer::Client::builder(&url);
        if let Some(ns) = &namespace {
            builder = builder.namespace(ns.clone());
        }
        let client = builder
            .connect()
            .await
            .expect("cannot connect to the test server");
        TestRedis {
            server,
            client,
            url,
            namespace,
        }
    }

    /// A plain redis-rs connection, for writing junk and inspecting keys.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection")
    }
}

fn uuid_like() -> String {
    rapyer::Uuid::new_v4().simple().to_string()
}
