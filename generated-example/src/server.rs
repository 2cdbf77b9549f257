//! A private `redis-server` for a demo run: a unix socket in a temp directory, no persistence,
//! stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private server.
pub struct PrivateServer {
    child: Child,
    /// Where it listens: `redis+unix://...`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Starts `redis-server` from `PATH` and waits until it answers.
    pub fn start() -> std::io::Result<PrivateServer> {
        let dir = tempfile::Builder::new().prefix("leaderboard-").tempdir()?;
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start redis-server ({e}): install it (bash scripts/setup.sh) or pass --redis URL"),
                )
            })?;
        let server = PrivateServer {
            child,
            url: format!("redis+unix://{}", socket.display()),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() || std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "redis-server did not start within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
