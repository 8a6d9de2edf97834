//! The live servers the chaos run abuses: llama.cpp instances started, found and signalled
//! through `scripts/local-server`, so the run uses the same build and model as the tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One named `llama-server` instance on a fixed loopback port.
pub struct Server {
    /// The instance name (`scripts/local-server --name`).
    pub name: String,
    /// Its OpenAI API root.
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/local-server")
}

/// The llama-server arguments of every instance: one thread each, so two instances share the
/// two cores instead of fighting over them, and two slots, so a burst of long requests queues.
const EXTRA: [&str; 5] = ["--", "-t", "1", "-np", "2"];

impl Server {
    /// Starts (or reuses) the instance `name`; on `port` when given (a restart keeps its URL).
    pub fn start(name: &str, port: Option<u16>) -> Server {
        let mut cmd = Command::new(script());
        cmd.args(["start", "--name", name]).args(EXTRA);
        if let Some(port) = port {
            cmd.env("LOCAL_SERVER_PORT", port.to_string());
        }
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/local-server runs");
        assert!(
            out.status.success(),
            "scripts/local-server start --name {name} failed"
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        Server {
            name: name.into(),
            url,
        }
    }

    /// The loopback port in its URL.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("a port in the server URL")
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the running process.
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(run_dir(&self.name).join("pid")).expect("a pid file");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", pid.trim());
    }

    /// Stops the instance (whatever state it is in).
    pub fn stop(&self) {
        let _ = Command::new(script())
            .args(["stop", "--name", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

fn run_dir(name: &str) -> PathBuf {
    let out = Command::new(script())
        .arg("paths")
        .output()
        .expect("scripts/local-server paths");
    let cache = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("CACHE=").map(str::to_string))
        .expect("scripts/local-server paths names its CACHE");
    PathBuf::from(cache).join("run").join(name)
}
