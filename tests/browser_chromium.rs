//! A real browser through strainer over HTTPS and plain HTTP: headless Chromium trusts strainer's CA through an NSS
//! database (real certificate checks, host names included), loads `https://news.test/article` from a loopback HTTPS
//! origin and `http://news.test/article` from a plain one via `--proxy-server`, and the DOM it builds must show the
//! rules' work: promos gone, related paragraphs tagged, links clean.
//!
//! Needs `chromium` and `certutil` (Debian: `chromium`, `libnss3-tools`). With `CI=true` their absence fails the
//! test; elsewhere it is skipped with a loud message. Every child process is bounded by a deadline and killed by PID.

mod tls_support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tls_support::{seed_site, HttpsOrigin, TestPki};

/// How long Chromium may take to load and dump the page.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);
/// How long strainer may take to print its listening address.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// The browser and NSS tool, or `None` (skip) outside CI when one is missing.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            let path = Path::new(name);
            if path.is_absolute() {
                return path.is_file().then(|| path.to_owned());
            }
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
            })
        })
    };
    let chromium = find(&["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]);
    let certutil = find(&["certutil"]);
    match (chromium, certutil) {
        (Some(chromium), Some(certutil)) => Some((chromium, certutil)),
        (chromium, certutil) => {
            let missing = format!(
                "browser test needs chromium ({}) and certutil ({}); install `chromium libnss3-tools`",
                if chromium.is_some() { "found" } else { "MISSING" },
                if certutil.is_some() { "found" } else { "MISSING" },
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{missing} (required when CI=true)");
            eprintln!("\n!!!!!!!!!! SKIPPED browser_chromium: {missing} !!!!!!!!!!\n");
            None
        }
    }
}

/// Kills a child process by PID when dropped (strainer, or a browser that outlived its deadline).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` to completion within `deadline`; kills it by PID and fails if it takes longer.
fn run_bounded(mut command: Command, deadline: Duration, what: &str) -> (String, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect(what);
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (done_tx, done_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = done_tx.send(());
        (out, err)
    });
    let finished = done_rx.recv_timeout(deadline).is_ok();
    if !finished {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    let _ = child.wait();
    let (out, err) = reader.join().expect("reader thread");
    assert!(finished, "{what} (pid {pid}) did not finish within {deadline:?}; killed\nstderr:\n{err}");
    (out, err)
}

/// Runs a `certutil` command and fails with its output on error.
fn certutil(certutil: &Path, home: &Path, args: &[&str]) {
    let mut command = Command::new(certutil);
    command.env("HOME", home).args(args);
    let output = command.output().expect("run certutil");
    assert!(output.status.success(), "certutil {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Starts the strainer binary and returns it with the address it listens on.
fn start_strainer(args: &[String]) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strainer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start strainer");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("strainer listening on http://") {
                let addr = addr.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx.recv_timeout(STARTUP_DEADLINE).expect("strainer prints its listening address");
    (guard, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_gets_the_rewritten_seed_article_over_https_and_http() {
    let Some((chromium, certutil_bin)) = tools() else { return };
    let work = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::new("test origins CA");
    let origin = HttpsOrigin::start(pki.server_config(&["news.test"]), seed_site).await;
    let origin_ca = pki.write_ca(work.path(), "origin-ca.pem");

    let certs = work.path().join("certs");
    let (ca, _) = strainer::tls::ca::CertificateAuthority::load_or_create(&certs).expect("strainer CA");
    let settings = work.path().join("strainer.toml");
    std::fs::write(&settings, format!("mitm_ports = [443, {}]\n", origin.port())).expect("settings");
    let args: Vec<String> = [
        "run",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        &tls_support::crate_dir().join("rules").to_string_lossy(),
        "--certs",
        &certs.to_string_lossy(),
        "--config",
        &settings.to_string_lossy(),
        "--upstream-ca",
        &origin_ca.to_string_lossy(),
        "--resolve",
        "news.test=127.0.0.1",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (_strainer, proxy) = tokio::task::spawn_blocking(move || start_strainer(&args)).await.expect("start");

    // Real trust: strainer's CA in an NSS database under a private HOME.
    let home = work.path().join("home");
    let nssdb = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb).expect("nssdb dir");
    let db = format!("sql:{}", nssdb.display());
    let ca_pem = work.path().join("strainer-ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write CA");
    certutil(&certutil_bin, &home, &["-d", &db, "-N", "--empty-password"]);
    certutil(
        &certutil_bin,
        &home,
        &["-d", &db, "-A", "-t", "C,,", "-n", "strainer-test", "-i", &ca_pem.to_string_lossy()],
    );

    let https = format!("https://news.test:{}/article", origin.port());
    let plain_origin = HttpsOrigin::start_plain(seed_site).await;
    let http = format!("http://news.test:{}/article", plain_origin.port());
    for url in [https, http] {
        let profile = work.path().join(format!("profile-{}", url.split(':').next().unwrap_or("x")));
        let mut command = Command::new(&chromium);
        command.env("HOME", &home).args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--proxy-server=http://{proxy}"),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &url,
        ]);
        let (dom, stderr) = tokio::task::spawn_blocking(move || {
            run_bounded(command, BROWSER_DEADLINE, "chromium --dump-dom")
        })
        .await
        .expect("browser task");
        assert_clean_article(&url, &dom, &stderr);
    }
}

/// The DOM Chromium built for `url` shows the rules' work on the seed article.
fn assert_clean_article(url: &str, dom: &str, stderr: &str) {
    assert!(
        dom.contains("Putin Endorses US Peace Plan"),
        "{url} did not load through strainer\nDOM:\n{dom}\nchromium stderr:\n{stderr}"
    );
    assert!(!dom.contains("Water Purification Tablets"), "{url}: first promo still present:\n{dom}");
    assert!(!dom.contains("Hand Warmers (Bulk Packs)"), "{url}: second promo still present:\n{dom}");
    assert_eq!(
        dom.matches("data-strainer-tag=\"related\"").count(),
        2,
        "{url}: both Related paragraphs tagged:\n{dom}"
    );
    for title in ["Zelenskyy Commits to Istanbul Peace Talks", "Houthi Missile Strike Escalates"] {
        assert!(dom.contains(title), "{url}: related link {title:?} kept:\n{dom}");
    }
    assert!(!dom.contains("utm_"), "{url}: tracking parameters left in links:\n{dom}");
}
