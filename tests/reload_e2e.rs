//! End to end with the real binary: rule edits take effect on the next request without a restart, the JSON log of a
//! real request carries the documented fields, and SIGTERM lets an in-flight response finish while new
//! connections are refused.
//!
//! Each test runs `strainer run` as a child process on `127.0.0.1:0` (the address is read from its first line of
//! output) with `--log-format json`, and reads its log lines from standard error to wait for events.

mod common;
mod ops_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::Origin;
use ops_support::{append, PATIENCE};
use serde_json::Value;
use strainer::telemetry::{fields, REQUEST_MESSAGE};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// A `strainer run` child process; killed if still running when dropped.
struct RunningStrainer {
    child: Child,
    addr: SocketAddr,
    log: Arc<LogLines>,
}

/// The JSON log lines the child wrote so far, and a wake-up for each new one.
#[derive(Default)]
struct LogLines {
    lines: Mutex<Vec<Value>>,
    added: Notify,
}

impl RunningStrainer {
    /// Starts `strainer run` on `rules` with `--resolve news.test=127.0.0.1`; waits until it listens.
    async fn start(rules: &Path, certs: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strainer"))
            .args(["run", "--listen", "127.0.0.1:0", "--log-format", "json", "--log", "info"])
            .args(["--resolve", "news.test=127.0.0.1"])
            .arg("--rules")
            .arg(rules)
            .arg("--certs")
            .arg(certs)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the strainer binary");
        let log = Arc::new(LogLines::default());
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Lines that are not JSON (a panic message, say) are kept as strings so failures show them.
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lines.lock().expect("log lock").push(value);
                sink.added.notify_waiters();
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .expect("strainer prints its address in time")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("strainer exited before listening; log: {:?}", log.lines.lock()));
        let addr = first
            .strip_prefix("strainer listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        // Keep reading: strainer prints more lines, and a closed pipe would fail them.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self { child, addr, log }
    }

    /// A client using this strainer as its HTTP proxy.
    fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(format!("http://{}", self.addr)).expect("proxy url"))
            .build()
            .expect("client builds")
    }

    /// Waits until a log line satisfies `pred` (beyond the first `skip` lines) and returns it.
    async fn wait_for_log(&self, what: &str, skip: usize, pred: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                let added = self.log.added.notified();
                if let Some(line) =
                    self.log.lines.lock().expect("log lock").iter().skip(skip).find(|l| pred(l))
                {
                    return line.clone();
                }
                added.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no log line for {what}; log: {:#?}", self.log.lines.lock()))
    }

    /// How many log lines were written so far.
    fn log_len(&self) -> usize {
        self.log.lines.lock().expect("log lock").len()
    }

    /// Sends SIGTERM to the child only.
    fn terminate(&self) {
        let pid = self.child.id().expect("child still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success());
    }
}

fn message_is(line: &Value, message: &str) -> bool {
    line["message"] == message
}

/// A rules directory blocking the hosts of `lists/ad-hosts.txt` (initially `ads.test` only).
fn rules_dir(root: &Path) -> std::path::PathBuf {
    let rules = root.join("rules");
    std::fs::create_dir_all(rules.join("lists")).expect("create rules/lists");
    std::fs::write(rules.join("hosts.toml"), "[[block]]\nid = \"ad-servers\"\nhosts = [\"@ad-hosts\"]\n")
        .expect("write hosts.toml");
    std::fs::write(rules.join("lists/ad-hosts.txt"), "ads.test\n").expect("write list");
    rules
}

#[tokio::test]
async fn a_rule_edit_applies_to_the_next_request_and_requests_are_logged_as_json() {
    let origin = Origin::start(|_request| async {
        // Plain text: this test is about rules and logs, not the HTML engine.
        common::chunked(
            200,
            &[("content-type", "text/plain; charset=utf-8")],
            vec![Bytes::from_static(b"news")],
        )
    })
    .await;
    let root = tempfile::tempdir().expect("temp dir");
    let rules = rules_dir(root.path());
    let strainer = RunningStrainer::start(&rules, &root.path().join("certs")).await;
    let client = strainer.client();
    let url = origin.url("news.test", "/article?utm_source=x");

    let sent = client.get(&url).send().await;
    let first = sent
        .unwrap_or_else(|e| panic!("request through strainer: {e}; log: {:#?}", strainer.log.lines.lock()));
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.expect("body"), "news");
    let logged = strainer
        .wait_for_log("the first request", 0, |l| message_is(l, REQUEST_MESSAGE) && l["host"] == "news.test")
        .await;
    for name in fields::REQUEST {
        let optional = [fields::ERROR, fields::UPSTREAM_MS, fields::CONTENT_TYPE].contains(&name);
        assert!(optional || logged.get(name).is_some(), "field {name} missing at the top level: {logged}");
    }
    assert_eq!(logged[fields::STATUS], 200);
    assert_eq!(logged[fields::MODE], "plain");
    assert_eq!(logged[fields::METHOD], "GET");
    assert_eq!(logged[fields::PATH], "/article", "no query string by default");
    assert_eq!(logged[fields::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(logged[fields::BYTES_OUT], 4);
    assert!(logged.get(fields::ERROR).is_none(), "no error: {logged}");
    assert!(logged["timestamp"].is_string() && logged["level"] == "INFO");

    let before_edit = strainer.log_len();
    append(&rules.join("lists/ad-hosts.txt"), "news.test\n");
    let reloaded =
        strainer.wait_for_log("the reload", before_edit, |l| message_is(l, "rules reloaded")).await;

    let second = client.get(&url).send().await.expect("request through strainer");
    assert_eq!(second.status(), 403, "news.test is blocked after the edit, without a restart; {reloaded}");
    strainer
        .wait_for_log("the blocked request", before_edit, |l| {
            message_is(l, REQUEST_MESSAGE) && l[fields::MODE] == "blocked"
        })
        .await;

    let metrics = client.get("http://strainer.local/metrics").send().await.expect("metrics page");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("metrics text");
    for expected in
        ["strainer_rule_reloads_total{result=\"ok\"} 1\n", "strainer_requests_total{mode=\"blocked\"} 1\n"]
    {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_complete_response_with_content_length_is_not_logged_as_an_error() {
    let origin =
        Origin::start(|_request| async { common::full(200, &[("content-type", "text/plain")], "whole") })
            .await;
    let root = tempfile::tempdir().expect("temp dir");
    let strainer = RunningStrainer::start(&rules_dir(root.path()), &root.path().join("certs")).await;

    let response = strainer.client().get(origin.url("news.test", "/sized")).send().await.expect("response");
    assert_eq!(response.text().await.expect("whole body"), "whole");
    let logged = strainer
        .wait_for_log("the request", 0, |l| message_is(l, REQUEST_MESSAGE) && l[fields::PATH] == "/sized")
        .await;
    assert_eq!(logged[fields::BYTES_OUT], 5);
    assert!(logged.get(fields::ERROR).is_none(), "the body was delivered whole: {logged}");
}

#[tokio::test]
async fn a_broken_edit_is_logged_and_the_old_rules_keep_blocking() {
    let root = tempfile::tempdir().expect("temp dir");
    let rules = rules_dir(root.path());
    let strainer = RunningStrainer::start(&rules, &root.path().join("certs")).await;

    append(&rules.join("hosts.toml"), "[[block]\n");
    let rejected = strainer
        .wait_for_log("the rejection", 0, |l| message_is(l, "rules rejected; keeping previous rules"))
        .await;
    assert_eq!(rejected["level"], "ERROR");
    assert!(rejected["problems"].as_str().is_some_and(|p| p.starts_with("hosts.toml:4:")), "{rejected}");

    let blocked = strainer.client().get("http://ads.test/").send().await.expect("request through strainer");
    assert_eq!(blocked.status(), 403, "the previous rules still block");
}

#[tokio::test]
async fn sigterm_finishes_the_in_flight_response_and_refuses_new_connections() {
    let (bodies, mut body_senders) = tokio::sync::mpsc::channel(1);
    let origin = Origin::start(move |_request| {
        let bodies = bodies.clone();
        async move {
            let (sender, response) = common::channel(200, &[("content-type", "text/plain")]);
            let _ = bodies.send(sender).await;
            response
        }
    })
    .await;
    let root = tempfile::tempdir().expect("temp dir");
    let rules = rules_dir(root.path());
    let mut strainer = RunningStrainer::start(&rules, &root.path().join("certs")).await;

    let sent = strainer.client().get(origin.url("news.test", "/slow")).send().await;
    let mut response =
        sent.unwrap_or_else(|e| panic!("response head: {e}; log: {:#?}", strainer.log.lines.lock()));
    let body = body_senders.recv().await.expect("the origin got the request");
    body.send(Ok(Bytes::from_static(b"first "))).await.expect("origin sends");
    assert_eq!(response.chunk().await.expect("first chunk").as_deref(), Some(&b"first "[..]));

    let before = strainer.log_len();
    strainer.terminate();
    strainer
        .wait_for_log("the drain", before, |l| message_is(l, "shutting down; draining connections"))
        .await;
    let refused = tokio::net::TcpStream::connect(strainer.addr).await;
    assert!(refused.is_err(), "new connections are refused while draining");

    body.send(Ok(Bytes::from_static(b"and last"))).await.expect("origin sends");
    drop(body);
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("the in-flight body completes") {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"and last");
    let status = tokio::time::timeout(PATIENCE, strainer.child.wait())
        .await
        .expect("strainer exits after draining")
        .expect("wait for strainer");
    assert!(status.success(), "clean exit: {status:?}");
}

/// A rule file rewritten in place by a slow writer: truncated, then refilled in pieces, each pause longer than the
/// watcher's quiet time (300 ms) and shorter than the confirmation strainer waits before rules disappear.
const SLOW_WRITER_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

#[tokio::test]
async fn a_rule_file_rewritten_in_place_in_slow_pieces_never_leaves_requests_without_its_rules() {
    let root = tempfile::tempdir().expect("temp dir");
    let rules = rules_dir(root.path());
    let strainer = RunningStrainer::start(&rules, &root.path().join("certs")).await;
    let client = strainer.client();
    assert_eq!(client.get("http://ads.test/").send().await.expect("answer").status(), 403);

    let before = strainer.log_len();
    let path = rules.join("hosts.toml");
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let pieces = [
            "# ad servers, rewritten in place\n",
            "[[block]]\nid = \"ad-servers\"\n",
            "hosts = [\"@ad-hosts\"]\n",
            "# end of file\n",
        ];
        // `File::create` truncates the file in place, as `>` in a shell or an editor writing in place does.
        let mut file = std::fs::File::create(&path).expect("open in place");
        for piece in pieces {
            std::thread::sleep(SLOW_WRITER_PAUSE);
            file.write_all(piece.as_bytes()).expect("write a piece");
            file.flush().expect("flush");
        }
    });
    let mut statuses = Vec::new();
    while !writer.is_finished() {
        statuses.push(client.get("http://ads.test/").send().await.expect("answer").status().as_u16());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    writer.join().expect("writer thread");
    strainer
        .wait_for_log("the reload of the finished file", before, |l| {
            message_is(l, "rules reloaded")
                && l["changed_files"] == "hosts.toml"
                && l["removed"] == ""
                && l["rules"] == 1
        })
        .await;
    statuses.push(client.get("http://ads.test/").send().await.expect("answer").status().as_u16());
    let unblocked = statuses.iter().filter(|s| **s != 403).count();
    assert_eq!(
        unblocked,
        0,
        "{unblocked} of {} requests ran without the block rule: {statuses:?}",
        statuses.len()
    );
}
