//! One private `redis-server` process (unix socket in a temp dir, or TCP on a free port),
//! killed when its handle drops.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private Redis server process.
pub struct RedisServer {
    child: Child,
    dir: tempfile::TempDir,
    /// How to reach it (with `?protocol=resp3` under `RAPYER_TEST_PROTOCOL=resp3`).
    pub url: String,
    port: Option<u16>,
    args: Vec<String>,
}

/// How to reach a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A unix socket in the server's temp dir.
    Unix,
    /// TCP on 127.0.0.1 and a free port.
    Tcp,
    /// TLS only, on 127.0.0.1 and a free port, with the test CA's certificate
    /// ([`tls_files`](super::tls_files)); client certificates optional.
    Tls,
}

/// The server program the tests run: `redis-server`, or `valkey-server` when
/// `RAPYER_TEST_SERVER=valkey`.
pub fn server_program() -> &'static str {
    match std::env::var("RAPYER_TEST_SERVER").as_deref() {
        Ok("valkey") => "valkey-server",
        Ok("redis") | Ok("") | Err(_) => "redis-server",
        Ok(other) => panic!("RAPYER_TEST_SERVER must be redis or valkey, not {other:?}"),
    }
}

/// `url` for the clients of the tests: with `protocol=resp3` when `RAPYER_TEST_PROTOCOL=resp3`.
pub fn test_url(url: String) -> String {
    match std::env::var("RAPYER_TEST_PROTOCOL").as_deref() {
        Ok("resp3") => format!("{url}?protocol=resp3"),
        Ok("resp2") | Ok("") | Err(_) => url,
        Ok(other) => panic!("RAPYER_TEST_PROTOCOL must be resp2 or resp3, not {other:?}"),
    }
}

/// The server binary (a missing one is a loud failure, never a skip).
pub(crate) fn redis_server_binary() -> PathBuf {
    let program = server_program();
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or(None);
    found.unwrap_or_else(|| {
        panic!("{program} is not installed: run `bash scripts/setup.sh` (or set REDIS_URL to a running server)")
    })
}

/// A free TCP port at most 55535: a cluster node also listens on its port + 10000.
pub(crate) fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free TCP port");
        // A cluster node also listens on port + 10000 (its bus): that one must be free too.
        if port <= 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start(transport: Transport) -> RedisServer {
        Self::start_with(transport, &["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with extra configuration arguments (`--appendonly yes`, ...). A port
    /// taken by another process between choosing it and binding it (tests run in parallel) is
    /// chosen again.
    pub fn start_with(transport: Transport, extra: &[&str]) -> RedisServer {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::try_start(transport, extra) {
                Ok(server) => return server,
                Err(log) if attempts < 5 && log.contains("Address already in use") => {}
                Err(log) => panic!("redis-server did not start; log: {log}"),
            }
        }
    }

    fn try_start(transport: Transport, extra: &[&str]) -> Result<RedisServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("rapyer-redis-")
            .tempdir()
            .expect("temp dir");
        let (mut args, url, port) = match transport {
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
                    None,
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
                    Some(port),
                )
            }
            Transport::Tls => {
                let port = free_port();
                let mut args = super::tls_files().server_args(port, "optional");
                args.extend(["--bind".into(), "127.0.0.1".into()]);
                (args, format!("rediss://127.0.0.1:{port}/"), Some(port))
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
            url: test_url(url),
            port,
            args,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // A TLS server is ready once it listens (whatever certificate it presents).
            let ready = match (self.url.starts_with("rediss://"), self.port) {
                (true, Some(port)) => std::net::TcpStream::connect(("127.0.0.1", port))
                    .map(drop)
                    .map_err(redis::RedisError::from),
                _ => self.ping(),
            };
            if ready.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline || self.log().contains("Address already in use") {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn ping(&self) -> redis::RedisResult<()> {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .map(drop)
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// The server's TCP port (`None` on a unix socket).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
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
        if let Err(log) = self.wait_ready() {
            panic!("redis-server did not restart; log: {log}");
        }
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
