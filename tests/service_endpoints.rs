//! The service endpoints against the real binary: `/healthz` and `/readyz` on the proxy listener without proxy
//! credentials, `metrics_listen` serving `/metrics` (checked by `promtool check metrics` from Debian's
//! `prometheus` package), `/healthz` and `/readyz` only, with `proxy_auth` on; the settings file's relative paths;
//! and the drain on SIGTERM (not ready, `Connection: close`, then exit).

mod service_support;

use std::io::Write as _;
use std::process::Stdio;

use service_support::{exchange, get, Instance};

fn settings(rules: &std::path::Path) -> String {
    format!(
        "proxy_auth = [\"alice:open sesame\"]\nmetrics_listen = \"127.0.0.1:0\"\nrules = {rules:?}\n\
         certs = \"state/certs\"\n[limits]\ndrain_delay_ms = 1500\nshutdown_grace_ms = 2000\n"
    )
}

fn shipped_rules() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn health_and_metrics_are_reachable_without_proxy_credentials_and_parse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut strainer = Instance::start(dir.path(), "strainer", &settings(&shipped_rules()), &[]).await;
    let metrics = strainer.metrics.expect("metrics_listen is printed");
    assert!(
        dir.path().join("state/certs/strainer-ca.pem").is_file(),
        "certs resolve against the file's folder"
    );

    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let (status, _, text) = get(strainer.addr, path).await.expect("listener answers");
        assert_eq!((status, text.starts_with(body)), (200, true), "{path}: {text}");
        let (status, _, text) = get(metrics, path).await.expect("metrics listener answers");
        assert_eq!((status, text.starts_with(body)), (200, true), "{path} on metrics_listen: {text}");
    }
    let (status, _, _) = get(strainer.addr, "/metrics").await.expect("listener answers");
    assert_eq!(status, 407, "the listener's /metrics still needs proxy credentials");
    for path in ["/proxy.pac", "/ca.pem", "/"] {
        let (status, _, _) = get(metrics, path).await.expect("metrics listener answers");
        assert_eq!(status, 404, "{path} is not served on metrics_listen");
    }
    // One proxied request (strainer's own status page, with credentials) so histograms have samples.
    let head = "GET http://strainer.internal/ HTTP/1.1\r\nHost: strainer.internal\r\n\
                Proxy-Authorization: Basic YWxpY2U6b3BlbiBzZXNhbWU=\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(strainer.addr, head).await.expect("status page").0, 200);

    let (status, headers, text) = get(metrics, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    for name in [
        "strainer_request_duration_seconds_bucket{mode=\"local\",outcome=\"ok\",le=\"+Inf\"} 1",
        "strainer_requests_total{mode=\"local\"} 1",
        "strainer_build_info{version=",
        "strainer_ready 1",
        "strainer_tls_leaf_cache_total{result=\"hit\"} 0",
        "strainer_open{kind=\"connection\"}",
        "strainer_requests_in_flight 0",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    if let Some(promtool) = service_support::tool("promtool", "prometheus", "service_endpoints") {
        let mut check = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        check.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
        let out = check.wait_with_output().expect("promtool finishes");
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // SIGTERM: not ready at once, still serving (each response closing its connection), then gone.
    strainer.signal("TERM");
    let mut not_ready = None;
    for _ in 0..50 {
        let (status, _, _) = get(metrics, "/readyz").await.expect("still serving while draining");
        if status == 503 {
            not_ready = Some(status);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(not_ready, Some(503), "/readyz turns 503 on SIGTERM");
    let kept_alive = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", strainer.addr);
    let (status, headers, _) = exchange(strainer.addr, &kept_alive).await.expect("listener still serves");
    assert_eq!((status, header(&headers, "connection")), (200, Some("close")));
    assert!(strainer.exited().await.success());
    let logs = strainer.log_lines();
    assert!(logs.iter().any(|l| l["message"] == "draining: not ready, still serving"), "{logs:?}");
}
