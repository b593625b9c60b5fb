//! Helpers for the service tests: external tools (required under CI), strainer as a child process with a settings
//! file, raw HTTP/1.1 exchanges, signals by PID. Each test crate uses part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Upper bound for any wait in these tests: a failure bound, not a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of `name` on `PATH` (or in `/usr/sbin`), or `None` after a loud skip notice. Under `CI=true` a missing
/// tool fails the test with the Debian package to install.
pub fn tool(name: &str, package: &str, test: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
    if let Some(found) = dirs.iter().map(|dir| dir.join(name)).find(|c| c.is_file()) {
        return Some(found);
    }
    let missing = format!("{test} needs `{name}`: apt-get install -y {package}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{missing} (required when CI=true)");
    eprintln!("\n!!!!!!!!!! SKIPPED {test}: {missing} !!!!!!!!!!\n");
    None
}

/// A strainer child process started with a settings file; killed (SIGKILL) on drop if still running.
pub struct Instance {
    /// The child.
    pub child: Child,
    /// The proxy listener.
    pub addr: SocketAddr,
    /// The `metrics_listen` listener, when configured.
    pub metrics: Option<SocketAddr>,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

impl Instance {
    /// Starts `strainer run --config <dir>/<name>.toml` (the `settings` text) with `args`, logging JSON to
    /// `<dir>/<name>.log`, and waits until it prints its addresses.
    pub async fn start(dir: &Path, name: &str, settings: &str, args: &[&str]) -> Self {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, settings).expect("write settings");
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_strainer"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json"])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("STRAINER_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("start strainer");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut addr = None;
        let mut metrics = None;
        let wanted = settings.contains("metrics_listen");
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("strainer listening on http://") {
                    addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
                }
                if let Some(rest) = line.trim().strip_prefix("metrics and health: http://") {
                    metrics = rest.split('/').next().and_then(|a| a.parse().ok());
                }
                if addr.is_some() && (metrics.is_some() || !wanted) {
                    break;
                }
            }
        };
        let started = tokio::time::timeout(PATIENCE, read).await.is_ok();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(started && addr.is_some(), "strainer {name} did not start; its log:\n{text}");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr: addr.expect("checked above"), metrics, log }
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the child runs")
    }

    /// Sends `signal` (`TERM`, `KILL`, `HUP`) to this child only.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the child to exit; panics after [`PATIENCE`].
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("strainer exits in time")
            .expect("wait")
    }

    /// Every JSON line of the log so far.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// A whole HTTP/1.1 answer: status, headers (lower-case names) and body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// Sends `signal` to the process `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// One raw HTTP/1.1 exchange on a fresh connection (`head` must ask for `Connection: close`): status, headers
/// (lower-case names) and body, or the I/O error text.
pub async fn exchange(addr: SocketAddr, head: &str) -> Result<Answer, String> {
    let run = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        parse_response(&raw)
    };
    tokio::time::timeout(PATIENCE, run).await.map_err(|_| "timed out".to_owned())?
}

/// Splits a whole HTTP/1.1 response (identity or `Content-Length` body) into status, headers and body.
pub fn parse_response(raw: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no complete head: {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

/// `GET path` straight to `addr` (origin-form), closing afterwards.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Answer, String> {
    exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")).await
}
