//! The systemd service: `deploy/systemd/strainer.service` passes `systemd-analyze verify` with no complaint at all
//! (verify exits 0 even for unknown keys, so its output must be empty too), and the binary tells a service manager
//! `READY=1` once it listens with its rules loaded and `STOPPING=1` on SIGTERM (a test socket stands in for
//! systemd's `NOTIFY_SOCKET`).

#![cfg(unix)]

mod service_support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = service_support::tool("systemd-analyze", "systemd", "service_unit") else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("deploy/systemd/strainer.service")).expect("the unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/strainer run --config /etc/strainer/strainer.toml"));
    // verify checks that ExecStart names an executable: point it at the binary under test.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("strainer.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/strainer", env!("CARGO_BIN_EXE_strainer")))
        .expect("write");
    let out = Command::new(analyze).arg("verify").arg(&path).output().expect("run systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
    // The settings file the unit reads parses, and keeps the CA in the state directory.
    let settings = std::fs::read_to_string(root.join("deploy/systemd/strainer.toml")).expect("settings");
    assert!(settings.contains("certs = \"/var/lib/strainer/certs\""));
    let check = Command::new(env!("CARGO_BIN_EXE_strainer")).arg("settings").output().expect("run strainer");
    assert!(check.status.success());
}

/// Receives one notification from `socket` within `patience`.
fn receive(socket: &UnixDatagram, patience: Duration) -> Option<String> {
    socket.set_read_timeout(Some(patience)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn readiness_and_stopping_are_notified() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strainer"))
        .args(["run", "--listen", "127.0.0.1:0", "--log", "warn"])
        .arg("--rules")
        .arg(&rules)
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("STRAINER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strainer");
    let ready = receive(&socket, service_support::PATIENCE);
    let pid = child.id();
    let ready_text = ready.unwrap_or_default();
    let stopping = if ready_text.contains("READY=1") {
        service_support::send_signal(pid, "TERM");
        receive(&socket, service_support::PATIENCE)
    } else {
        let _ = child.kill();
        None
    };
    let deadline = Instant::now() + service_support::PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        ready_text.contains("READY=1") && ready_text.contains("STATUS=listening on 127.0.0.1:"),
        "{ready_text:?}"
    );
    assert!(stopping.as_deref().is_some_and(|s| s.contains("STOPPING=1")), "{stopping:?}");
    assert!(status.is_some_and(|s| s.success()), "strainer exits cleanly after SIGTERM: {status:?}");
}
