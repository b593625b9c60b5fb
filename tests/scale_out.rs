//! Scale-out: HAProxy (Debian's `haproxy`, running `deploy/haproxy/haproxy.cfg` with test ports) in TCP mode with
//! the PROXY protocol v2 in front of two strainer instances that share one certs directory (created by both at
//! once) and one rules directory, all on loopback. Load runs through HAProxy while one instance is stopped with
//! SIGTERM (then restarted) and the other is killed with SIGKILL (then restarted).
//!
//! Checked: no failed request from the SIGTERM drain; failures from the SIGKILL only inside HAProxy's detection
//! window; every instance's JSON log names the real client (the load comes from 127.0.0.2, HAProxy from
//! 127.0.0.1); HTTPS interception through either instance presents a leaf of the one shared CA. The figures are
//! printed (`cargo test --test scale_out -- --nocapture`); `scripts/scale-out-demo.sh` runs this test as a demo.

mod service_support;
mod tls_support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use service_support::{Instance, PATIENCE};
use tls_support::{HttpsOrigin, TestPki};

/// The page the load fetches (small: the machine has two cores for HAProxy, two instances and the load).
const PAGE: &str = "<!DOCTYPE html><html><head><title>t</title></head><body><article><p>Plain text of an article \
                    that no rule touches.</p><p><a href=\"/next?utm_source=x\">next</a></p></article></body></html>";
/// Concurrent load workers.
const WORKERS: usize = 6;
/// HAProxy's health check interval and failures before marking down, as in deploy/haproxy/haproxy.cfg.
const CHECK_INTER: Duration = Duration::from_millis(500);
const CHECK_FALL: u32 = 2;
/// How long after SIGTERM an instance keeps serving while not ready (more than CHECK_INTER × CHECK_FALL).
const DRAIN_DELAY_MS: u64 = 2000;
/// Where the load comes from and where the direct HTTPS checks come from (both loopback, neither HAProxy's).
const LOAD_IP: [u8; 4] = [127, 0, 0, 2];
const DIRECT_IP: [u8; 4] = [127, 0, 0, 3];

/// One finished request of the load: when it ended and what went wrong, if anything.
struct Outcome {
    at: Instant,
    error: Option<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn settings(dir: &Path, origin_ca: &Path, tls_port: u16) -> String {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    format!(
        "proxy_protocol_from = [\"127.0.0.1\"]\nrules = {rules:?}\ncerts = {certs:?}\nupstream_ca = [{origin_ca:?}]\n\
         mitm_ports = [443, {tls_port}]\nlog = \"info\"\n[limits]\ndrain_delay_ms = {DRAIN_DELAY_MS}\n\
         shutdown_grace_ms = 5000\n[resolve]\n\"news.test\" = \"127.0.0.1\"\n",
        certs = dir.join("certs"),
    )
}

async fn start_instance(dir: &Path, name: &str, port: u16, settings: &str) -> Instance {
    Instance::start(dir, name, settings, &["--listen", &format!("127.0.0.1:{port}")]).await
}

/// HAProxy running the shipped configuration with `lb`, `s1` and `s2` as its ports.
fn start_haproxy(haproxy: &Path, dir: &Path, lb: u16, s1: u16, s2: u16) -> tokio::process::Child {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy/haproxy.cfg"))
            .expect("deploy/haproxy/haproxy.cfg");
    for token in ["bind 127.0.0.1:3128", "server s1 127.0.0.1:8081", "server s2 127.0.0.1:8082"] {
        assert!(shipped.contains(token), "the shipped configuration no longer has {token:?}");
    }
    let config = shipped
        .replace("bind 127.0.0.1:3128", &format!("bind 127.0.0.1:{lb}"))
        .replace("server s1 127.0.0.1:8081", &format!("server s1 127.0.0.1:{s1}"))
        .replace("server s2 127.0.0.1:8082", &format!("server s2 127.0.0.1:{s2}"));
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let log = std::fs::File::create(dir.join("haproxy.log")).expect("haproxy log");
    tokio::process::Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("log handle")))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start haproxy")
}

fn load_client(lb: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://127.0.0.1:{lb}")).expect("proxy url"))
        .local_address(IpAddr::from(LOAD_IP))
        // Shorter than the drain delay: a pooled connection idle since the drain began is not reused after it.
        .pool_idle_timeout(Duration::from_millis(1000))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("body: {e:?}"))?;
    if status != 200 || !body.contains("Plain text of an article") {
        return Err(format!("status {status}, body {body:?}"));
    }
    Ok(())
}

/// Runs the load until `stop` (each worker at most 100,000 requests); returns every outcome.
fn start_load(lb: u16, url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Outcome>> {
    tokio::spawn(async move {
        let client = load_client(lb);
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (client, url, stop, outcomes) =
                    (client.clone(), url.clone(), stop.clone(), outcomes.clone());
                tokio::spawn(async move {
                    for _ in 0..100_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let error = fetch(&client, &url).await.err();
                        outcomes.lock().expect("outcomes").push(Outcome { at: Instant::now(), error });
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }
        let all = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
        all
    })
}

/// Waits until `count` requests in a row succeed through HAProxy.
async fn wait_until_served(lb: u16, url: &str, count: usize) {
    let client = load_client(lb);
    let deadline = Instant::now() + PATIENCE;
    let mut in_a_row = 0;
    while in_a_row < count {
        assert!(Instant::now() < deadline, "HAProxy never served {count} requests in a row");
        match fetch(&client, url).await {
            Ok(()) => in_a_row += 1,
            Err(_) => {
                in_a_row = 0;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// An HTTPS request through `proxy` trusting only the shared CA: succeeds only if the leaf comes from it.
async fn https_through(proxy: SocketAddr, ca_pem: &[u8], url: &str) -> Result<u16, String> {
    let ca = reqwest::Certificate::from_pem(ca_pem).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).map_err(|e| e.to_string())?)
        .local_address(IpAddr::from(DIRECT_IP))
        .tls_certs_only([ca])
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    Ok(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_haproxy_survive_sigterm_and_sigkill() {
    let Some(haproxy) = service_support::tool("haproxy", "haproxy", "scale_out") else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let origin =
        HttpsOrigin::start_plain(|_| async { tls_support::full(200, "text/html; charset=utf-8", PAGE) })
            .await;
    let pki = TestPki::new("scale-out origins CA");
    let tls_origin = HttpsOrigin::start(pki.server_config(&["news.test"]), |_| async {
        tls_support::full(200, "text/html; charset=utf-8", PAGE)
    })
    .await;
    let origin_ca = pki.write_ca(dir.path(), "origin-ca.pem");
    let settings = settings(dir.path(), &origin_ca, tls_origin.port());
    let (lb, p1, p2) = (free_port(), free_port(), free_port());

    // Both instances start together on an empty certs directory.
    let (mut s1, mut s2) = tokio::join!(
        start_instance(dir.path(), "s1", p1, &settings),
        start_instance(dir.path(), "s2", p2, &settings)
    );
    let _haproxy = start_haproxy(&haproxy, dir.path(), lb, p1, p2);
    let url = format!("http://news.test:{}/article.html", origin.addr.port());
    wait_until_served(lb, &url, 20).await;
    tokio::time::sleep(CHECK_INTER * 3).await;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = start_load(lb, url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;

    // SIGTERM: s1 drains (not ready, still serving) and exits; restarted at once.
    let term_at = Instant::now();
    s1.signal("TERM");
    assert!(s1.exited().await.success(), "s1 exits cleanly after SIGTERM");
    let term_exit = term_at.elapsed();
    s1 = start_instance(dir.path(), "s1", p1, &settings).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // SIGKILL: s2 dies mid-load; restarted a second later.
    let kill_at = Instant::now();
    s2.signal("KILL");
    let _ = s2.exited().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s2 = start_instance(dir.path(), "s2", p2, &settings).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    stop.store(true, Ordering::Relaxed);
    let outcomes = load.await.expect("load task");
    let elapsed = started.elapsed();

    // HAProxy marks a dead instance down after CHECK_FALL failed checks, CHECK_INTER apart (plus one interval for
    // the check in progress); requests in flight on the killed instance fail at once.
    let window = CHECK_INTER * (CHECK_FALL + 1) + Duration::from_millis(500);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let before_kill: Vec<_> = failed.iter().filter(|o| o.at < kill_at).collect();
    let in_window = failed.iter().filter(|o| o.at >= kill_at && o.at <= kill_at + window).count();
    let after_window: Vec<_> = failed.iter().filter(|o| o.at > kill_at + window).collect();
    let term_phase = outcomes.iter().filter(|o| o.at >= term_at && o.at < kill_at).count();
    let last_failure =
        failed.iter().filter_map(|o| o.at.checked_duration_since(kill_at)).max().unwrap_or_default();
    println!(
        "scale-out: {} requests in {:.1} s ({:.0} req/s) through HAProxy and 2 instances; SIGTERM phase {} \
         requests, {} failed (s1 exited {:.1} s after SIGTERM); SIGKILL: {} failed inside the {} ms detection \
         window (the last {} ms after the kill), {} after it",
        outcomes.len(),
        elapsed.as_secs_f64(),
        outcomes.len() as f64 / elapsed.as_secs_f64(),
        term_phase,
        before_kill.len(),
        term_exit.as_secs_f64(),
        in_window,
        window.as_millis(),
        last_failure.as_millis(),
        after_window.len(),
    );
    for failure in failed.iter().take(5) {
        println!(
            "  failure at +{:?} after kill: {:?}",
            failure.at.checked_duration_since(kill_at),
            failure.error
        );
    }
    assert!(outcomes.len() > 100, "the load ran: {} requests", outcomes.len());
    assert!(before_kill.is_empty(), "a SIGTERM drain fails no request: {:?}", before_kill[0].error);
    assert!(after_window.is_empty(), "failures after the detection window: {:?}", after_window[0].error);

    // HTTPS through either instance (and through HAProxy) presents a leaf of the one shared CA.
    let ca_pem = std::fs::read(dir.path().join("certs/strainer-ca.pem")).expect("the shared CA");
    let tls_url = format!("https://news.test:{}/", tls_origin.port());
    for (name, proxy) in [("s1", s1.addr), ("s2", s2.addr)] {
        assert_eq!(https_through(proxy, &ca_pem, &tls_url).await, Ok(200), "HTTPS through {name}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path().join("certs"))
        .expect("certs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "one CA in the shared directory: {names:?}");

    // Every request event names the real client: the load's address (through HAProxy) or the direct checks'.
    for instance in [&s1, &s2] {
        let requests: Vec<serde_json::Value> =
            instance.log_lines().into_iter().filter(|l| l["message"] == "request").collect();
        let from_load =
            requests.iter().filter(|l| l["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.2:")));
        assert!(from_load.count() > 0, "{} served the load", instance.log.display());
        for line in &requests {
            let client = line["client"].as_str().unwrap_or_default();
            assert!(
                client.starts_with("127.0.0.2:") || client.starts_with("127.0.0.3:"),
                "{}: request logged with client {client}, not the real client: {line}",
                instance.log.display()
            );
        }
    }
    s1.signal("TERM");
    s2.signal("TERM");
    let _ = tokio::join!(s1.exited(), s2.exited());
}
