//! The global rewrite memory budget holds under parallel load, and memory is given back afterwards.
//!
//! A real `strainer run` child with the shipped rules and `limits.rewrite_budget` set, a loopback origin serving a
//! 3 MB page of a million `<p>` (the page that made each rewritten response cost about 12 MB), and
//! [`PARALLEL`] fetches of it at once through the proxy. The child's peak RSS (`VmHWM`) must stay below its idle
//! RSS plus the budget plus [`MARGIN`], every response must arrive whole (rewritten or, past the budget, passed
//! through unfiltered), and the RSS must come back to within 20% of idle once the load is over.
//!
//! Its own test binary: peak RSS is per process, and the child is the only strainer this binary starts.

#![cfg(target_os = "linux")]

mod common;
mod tls_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use common::Origin;
use tls_support::{HttpsOrigin, TestPki};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Fetches in flight at once (HTTP/1.1, one connection each).
const PARALLEL: usize = 64;
/// The budget the child runs with (about seven rewritten responses at the default per-response limits).
const BUDGET: u64 = 64 << 20;
/// What peak RSS may exceed idle + budget by: the rest of each response's pipeline (decoder, buffers, the engine
/// beyond lol_html's own limit), 64 connections' socket and HTTP buffers, allocator slack.
const MARGIN: u64 = 48 << 20;
/// `<p>` repeated: a 3 MB page.
const PARAGRAPHS: usize = 1_000_000;
/// A small article page, for the light browsing after the load.
const SMALL_PAGE: &[u8] =
    b"<!doctype html><title>t</title><article><p>Some news.</p><p>More news.</p></article>";
/// Small fetches before idle is measured.
const LIGHT_BROWSING: usize = 20;
/// A bound on waits (start-up, memory returning); a failure bound, never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(120);

/// `VmRSS` and `VmHWM` (peak) of process `pid`, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Starts `strainer run` with the shipped rules and `settings`; returns the child and its address.
async fn start_strainer(dir: &Path, settings: &str) -> (Child, String) {
    let config = dir.join("strainer.toml");
    std::fs::write(&config, settings).expect("write settings");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strainer"))
        .args(["run", "--listen", "127.0.0.1:0", "--log", "warn", "--resolve", "news.test=127.0.0.1"])
        .arg("--rules")
        .arg(common::shipped_rules())
        .arg("--certs")
        .arg(dir.join("certs"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start strainer");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .expect("strainer starts in time")
        .expect("read stdout")
        .expect("strainer prints its address");
    let addr = first
        .strip_prefix("strainer listening on http://")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, addr)
}

/// Fetches the page through the proxy; returns (body length, whether it was rewritten).
async fn fetch(client: reqwest::Client, url: String) -> (usize, bool) {
    let response = client.get(&url).send().await.expect("response through strainer");
    assert_eq!(response.status(), 200);
    // A rewritten body loses its Content-Length; a passed-through one keeps the origin's.
    let rewritten = response.content_length().is_none();
    let body = response.bytes().await.expect("the whole body");
    (body.len(), rewritten)
}

/// The page served at every path but `/small.html`, and the small page there.
fn page_for(path: &str, page: &Bytes) -> Bytes {
    if path == "/small.html" {
        Bytes::from_static(SMALL_PAGE)
    } else {
        page.clone()
    }
}

/// A strainer under test: the child, a client using it as proxy, the page URLs.
struct Load {
    child: Child,
    client: reqwest::Client,
    big: String,
    small: String,
    parallel: usize,
    /// strainer's metrics, fetched from the listener itself over HTTP/1.1 (the listener speaks no HTTP/2).
    metrics: String,
}

/// Warms `load` up, measures idle, runs `load.parallel` fetches of the big page at once, then light browsing until
/// RSS is back within 20% of idle; checks the budget, the bodies, the memory and the counter.
async fn run(load: Load, page_len: usize) {
    let pid = load.child.id().expect("child pid");
    let (fresh, _) = rss(pid);
    let Load { client, big, small, parallel, .. } = &load;

    // Warm up with one big rewrite, then light browsing, so idle includes what a first response initialises once
    // (rules, pools, allocator arenas) but not what the allocator gives back as it works.
    let (len, rewritten) = fetch(client.clone(), big.clone()).await;
    assert!(len > 0 && rewritten, "the warm-up page is rewritten");
    for _ in 0..LIGHT_BROWSING {
        fetch(client.clone(), small.clone()).await;
    }
    let (idle, _) = rss(pid);

    let fetches: Vec<_> = (0..*parallel).map(|_| tokio::spawn(fetch(client.clone(), big.clone()))).collect();
    let mut rewritten = 0;
    for task in fetches {
        let (len, was_rewritten) = task.await.expect("fetch task");
        assert!(len >= page_len - 16 * PARAGRAPHS / 1000, "a whole page arrives: {len} bytes");
        rewritten += usize::from(was_rewritten);
    }
    let (_, peak) = rss(pid);

    // Memory returns: wait (bounded) until RSS is within 20% of idle, while light browsing goes on (allocators
    // give memory back as they work, not on a timer of their own).
    let target = idle + idle / 5;
    let back = tokio::time::timeout(PATIENCE, async {
        while rss(pid).0 > target {
            fetch(client.clone(), small.clone()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (after, _) = rss(pid);
    eprintln!(
        "fresh {}, idle {}, peak {}, after {} ({rewritten} of {parallel} responses rewritten, budget {})",
        mib(fresh),
        mib(idle),
        mib(peak),
        mib(after),
        mib(BUDGET)
    );
    assert!(rewritten > 0, "some responses are rewritten under load");
    assert!(
        peak <= idle + BUDGET + MARGIN,
        "peak RSS {} exceeds idle {} + budget {} + margin {}",
        mib(peak),
        mib(idle),
        mib(BUDGET),
        mib(MARGIN)
    );
    assert!(back.is_ok(), "RSS stayed at {} after the load, idle was {}", mib(after), mib(idle));
    let direct = reqwest::Client::builder().no_proxy().build().expect("client");
    let metrics = direct.get(&load.metrics).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("metrics text");
    let over_budget = format!("strainer_rewrites_over_budget_total {}\n", parallel - rewritten);
    assert!(metrics.contains(&over_budget), "every pass-through is counted: {over_budget:?} in\n{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_http1_rewrites_stay_within_the_budget_and_memory_comes_back() {
    let page = Bytes::from("<p>".repeat(PARAGRAPHS));
    let served = page.clone();
    let origin = Origin::start(move |request| {
        let body = page_for(request.uri().path(), &served);
        async move { common::full(200, &[("content-type", "text/html; charset=utf-8")], body) }
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (child, addr) = start_strainer(dir.path(), &format!("[limits]\nrewrite_budget = {BUDGET}\n")).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{addr}")).expect("proxy url"))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let (big, small) = (origin.url("news.test", "/million-p.html"), origin.url("news.test", "/small.html"));
    let metrics = format!("http://{addr}/metrics");
    run(Load { child, client, big, small, parallel: PARALLEL, metrics }, page.len()).await;
}

/// Streams on one HTTP/2 connection in the HTTP/2 case.
const STREAMS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_http2_streams_on_one_connection_stay_within_the_budget() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let page = Bytes::from("<p>".repeat(PARAGRAPHS));
    let served = page.clone();
    let pki = TestPki::new("origin CA");
    let origin = HttpsOrigin::start(pki.server_config(&["news.test"]), move |request| {
        let body = page_for(request.uri().path(), &served);
        async move { tls_support::full(200, "text/html; charset=utf-8", body) }
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let origin_ca = pki.write_ca(dir.path(), "origin-ca.pem");
    let settings = format!(
        "mitm_ports = [{}]\nupstream_ca = [{:?}]\n[limits]\nrewrite_budget = {BUDGET}\n",
        origin.port(),
        origin_ca.display().to_string()
    );
    let (child, addr) = start_strainer(dir.path(), &settings).await;
    let ca = std::fs::read(dir.path().join("certs/strainer-ca.pem")).expect("strainer's CA");
    // One client, HTTP/2 over one intercepted connection: every stream shares it.
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{addr}")).expect("proxy url"))
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA certificate")])
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let url = |path: &str| format!("https://news.test:{}{path}", origin.port());
    let (big, small, metrics) =
        (url("/million-p.html"), url("/small.html"), format!("http://{addr}/metrics"));
    run(Load { child, client, big, small, parallel: STREAMS, metrics }, page.len()).await;
}
