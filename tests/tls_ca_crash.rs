//! The CA survives crashes during its creation: every state a killed `strainer ca init` can leave is either no CA
//! or a complete one after the next start, a half pair is reported as incomplete (never as a bare I/O error), stray
//! temporary files of strainer's naming are removed, and `certs/` is created private whatever the umask.
//!
//! Crash states are built by hand (the file names are those strainer writes) and, in one test, produced by
//! SIGKILLing the real binary at spread-out moments of `ca init`.

#![cfg(unix)]

mod tls_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CERT_FILE: &str = "strainer-ca.pem";
const KEY_FILE: &str = "strainer-ca.key.pem";

/// Runs `strainer ca <args> --certs <dir>` to completion.
fn strainer_ca(dir: &Path, args: &[&str]) -> Output {
    tls_support::strainer_ca_command(dir, args).output().expect("run the strainer binary")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A complete CA in a fresh directory; returns the directory and the certificate's fingerprint.
fn complete_ca() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = strainer_ca(dir.path(), &["init"]);
    assert!(out.status.success(), "init: {}", stderr(&out));
    let fingerprint = strainer_ca(dir.path(), &["fingerprint"]);
    (dir, String::from_utf8_lossy(&fingerprint.stdout).trim().to_owned())
}

#[test]
fn a_key_without_its_certificate_is_reported_as_an_incomplete_ca() {
    let (dir, _) = complete_ca();
    fs::remove_file(dir.path().join(CERT_FILE)).expect("remove cert");
    let out = strainer_ca(dir.path(), &["init"]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(message.contains("exists but") && message.contains("is missing"), "{message}");
    assert!(
        !message.contains("No such file"),
        "a bare I/O error instead of the incomplete-CA message: {message}"
    );
    assert_eq!(names(dir.path()), [KEY_FILE], "nothing may be created next to a half pair");
}

#[test]
fn a_certificate_without_its_key_is_reported_as_an_incomplete_ca() {
    let (dir, _) = complete_ca();
    fs::remove_file(dir.path().join(KEY_FILE)).expect("remove key");
    let out = strainer_ca(dir.path(), &["init"]);
    let message = stderr(&out);
    assert!(
        !out.status.success() && message.contains("exists but") && message.contains(KEY_FILE),
        "{message}"
    );
    assert_eq!(names(dir.path()), [CERT_FILE]);
}

#[test]
fn stray_temporary_files_are_removed_and_the_ca_is_kept() {
    let (dir, fingerprint) = complete_ca();
    let cert_before = fs::read(dir.path().join(CERT_FILE)).expect("cert");
    // What earlier versions left after a kill (sometimes empty), and an unfinished staging directory.
    fs::write(dir.path().join(".strainer-ca.pem.00c0ffee00c0ffee.tmp"), "").expect("stray cert tmp");
    fs::write(dir.path().join(".strainer-ca.key.pem.0123456789abcdef.tmp"), "-----BEGIN")
        .expect("stray key tmp");
    fs::create_dir(dir.path().join(".strainer-ca.fedcba9876543210.tmp")).expect("stray staging dir");
    fs::write(dir.path().join(".strainer-ca.fedcba9876543210.tmp").join(KEY_FILE), "x").expect("partial key");
    fs::write(dir.path().join("notes.tmp"), "the admin's").expect("foreign file");

    let out = strainer_ca(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(dir.path()), ["notes.tmp", KEY_FILE, CERT_FILE]);
    assert_eq!(fs::read(dir.path().join(CERT_FILE)).expect("cert"), cert_before);
    let after = strainer_ca(dir.path(), &["fingerprint"]);
    assert_eq!(String::from_utf8_lossy(&after.stdout).trim(), fingerprint);
}

#[test]
fn a_committed_pair_interrupted_while_linking_is_completed_at_the_next_start() {
    // Made by a real creation, then put back into the state of a kill between the two links.
    let (made, fingerprint) = complete_ca();
    let dir = tempfile::tempdir().expect("temp dir");
    let committed = dir.path().join(".strainer-ca.new");
    fs::create_dir(&committed).expect("committed dir");
    for name in [CERT_FILE, KEY_FILE] {
        fs::copy(made.path().join(name), committed.join(name)).expect("copy staged file");
    }
    fs::hard_link(committed.join(KEY_FILE), dir.path().join(KEY_FILE)).expect("key linked");

    let out = strainer_ca(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(dir.path()), [KEY_FILE, CERT_FILE]);
    let after = strainer_ca(dir.path(), &["fingerprint"]);
    assert_eq!(String::from_utf8_lossy(&after.stdout).trim(), fingerprint);
}

#[test]
fn a_committed_pair_never_replaces_a_different_ca_in_place() {
    let (staged_from, _) = complete_ca();
    let (dir, fingerprint) = complete_ca();
    let cert_before = fs::read(dir.path().join(CERT_FILE)).expect("cert");
    let committed = dir.path().join(".strainer-ca.new");
    fs::create_dir(&committed).expect("committed dir");
    for name in [CERT_FILE, KEY_FILE] {
        fs::copy(staged_from.path().join(name), committed.join(name)).expect("copy staged file");
    }
    let out = strainer_ca(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(dir.path()), [KEY_FILE, CERT_FILE]);
    assert_eq!(fs::read(dir.path().join(CERT_FILE)).expect("cert"), cert_before);
    let after = strainer_ca(dir.path(), &["fingerprint"]);
    assert_eq!(String::from_utf8_lossy(&after.stdout).trim(), fingerprint);
}

#[test]
fn the_certs_directory_is_private_under_umask_000() {
    let parent = tempfile::tempdir().expect("temp dir");
    let certs = parent.path().join("certs");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000 && exec "$0" ca init --certs "$1""#)
        .arg(env!("CARGO_BIN_EXE_strainer"))
        .arg(&certs)
        .env_remove("RUST_LOG")
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |path: &Path| fs::metadata(path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&certs), 0o700, "certs/ must not be world-writable or readable");
    assert_eq!(mode(&certs.join(KEY_FILE)), 0o600);
}

/// How many times `ca init` is killed, and how far apart the kill moments are spread.
const KILLS: u32 = 64;
const KILL_STEP: Duration = Duration::from_micros(400);

#[test]
fn sigkill_during_ca_init_leaves_no_ca_or_a_complete_one() {
    let mut interrupted = 0;
    for attempt in 0..KILLS {
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        let mut child = tls_support::strainer_ca_command(&certs, &["init"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start strainer ca init");
        std::thread::sleep(KILL_STEP * attempt);
        let _ = child.kill(); // SIGKILL; it may have finished already
        let status = child.wait().expect("reap");
        if !status.success() {
            interrupted += 1;
        }
        // The next start must succeed and end with exactly a complete pair, whatever the kill left.
        let out = strainer_ca(&certs, &["init"]);
        assert!(out.status.success(), "attempt {attempt}: start after kill failed: {}", stderr(&out));
        assert_eq!(names(&certs), [KEY_FILE, CERT_FILE], "attempt {attempt}");
        let export = strainer_ca(&certs, &["fingerprint"]);
        assert!(export.status.success(), "attempt {attempt}: {}", stderr(&export));
    }
    eprintln!("{interrupted} of {KILLS} runs were killed before finishing");
    assert!(interrupted > 0, "no kill landed before `ca init` finished; the test proved nothing");
}
