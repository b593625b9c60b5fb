//! Reaching strainer's own pages and configuring a browser: the onboarding pages answer under
//! `strainer.internal` (macOS bypasses the proxy for `*.local` by default) and still under `strainer.local`, and
//! the PAC file sends plain names, `.local` and private, loopback and link-local addresses DIRECT (unless
//! `pac_direct_local = false`) while strainer's own names always go through the proxy.

mod common;

use std::process::Command;

use common::Strainer;
use http::StatusCode;
use strainer::rules::RuleSet;

#[tokio::test]
async fn the_onboarding_pages_answer_under_strainer_internal_and_the_strainer_local_alias() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let client = strainer.client();
    for name in ["strainer.internal", "Strainer.Internal.", "strainer.local"] {
        let status = client.get(format!("http://{name}/")).send().await.expect("status page");
        assert_eq!(status.status(), StatusCode::OK, "{name}");
        let page = status.text().await.expect("page");
        assert!(page.contains("strainer is running"), "{name}: {page}");
        assert!(page.contains("http://strainer.internal/"), "the page names its primary address: {page}");
        let pem = client.get(format!("http://{name}/ca.pem")).send().await.expect("PEM");
        assert_eq!(pem.headers()["content-type"], "application/x-pem-file", "{name}");
    }
    let missing = client.get("http://strainer.internal/nope").send().await.expect("answered");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.expect("page").contains("http://strainer.internal/"));
}

/// The PAC file strainer serves straight from its listener.
async fn pac_text(strainer: &Strainer) -> String {
    let response = strainer
        .direct_client()
        .get(format!("http://{}/proxy.pac", strainer.addr))
        .send()
        .await
        .expect("pac");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("pac text")
}

/// The standard PAC helpers the file may use (as browsers define them, for IPv4 literals), so `node` can run it.
const PAC_RUNTIME: &str = r#"
function isPlainHostName(host) { return host.indexOf(".") === -1; }
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}
function shExpMatch(text, pattern) {
  var re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp("^" + re + "$").test(text);
}
function toNumber(ip) {
  var p = ip.split(".");
  if (p.length !== 4) { throw new Error("isInNet needs an address here, got " + ip); }
  return ((+p[0] << 24) >>> 0) + (+p[1] << 16) + (+p[2] << 8) + (+p[3]);
}
function isInNet(host, pattern, mask) {
  return ((toNumber(host) & toNumber(mask)) >>> 0) === ((toNumber(pattern) & toNumber(mask)) >>> 0);
}
"#;

/// What the PAC file decides for each URL, by running it in `node`; `None` when `node` is not installed.
fn run_pac(pac: &str, urls: &[&str]) -> Option<Vec<String>> {
    let cases: Vec<String> = urls
        .iter()
        .map(|url| {
            let host = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("");
            let host = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or(host) };
            format!("console.log(FindProxyForURL({url:?}, {host:?}));")
        })
        .collect();
    let script = format!("{PAC_RUNTIME}\n{pac}\n{}", cases.join("\n"));
    let output = match Command::new("node").arg("-e").arg(&script).output() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("SKIPPED running the PAC file: node is not available ({error})");
            return None;
        }
    };
    assert!(output.status.success(), "the PAC file runs: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect())
}

#[tokio::test]
async fn the_pac_file_sends_local_names_and_private_networks_direct() {
    let strainer = Strainer::start_with_rules(RuleSet::default(), |_| {}).await;
    let pac = pac_text(&strainer).await;
    for function in ["isPlainHostName(", "dnsDomainIs(", "isInNet(", "shExpMatch("] {
        assert!(pac.contains(function), "{function} missing from the PAC file:\n{pac}");
    }
    let proxy = format!("PROXY {}", strainer.addr);
    let cases = [
        ("http://router/", "DIRECT"),
        ("http://nas.local/admin", "DIRECT"),
        ("https://printer.LOCAL/", "DIRECT"),
        ("http://127.0.0.1:9000/", "DIRECT"),
        ("https://192.168.1.1/", "DIRECT"),
        ("https://10.1.2.3/", "DIRECT"),
        ("https://172.20.0.1/", "DIRECT"),
        ("http://169.254.1.1/", "DIRECT"),
        ("http://[::1]/", "DIRECT"),
        ("http://[fe80::1]/", "DIRECT"),
        ("http://[fd00::2]/", "DIRECT"),
        ("ftp://files.example/", "DIRECT"),
        ("http://strainer.internal/", proxy.as_str()),
        ("http://strainer.local/", proxy.as_str()),
        ("https://news.example/", proxy.as_str()),
        ("http://172.32.0.1/", proxy.as_str()),
        ("http://8.8.8.8/", proxy.as_str()),
        ("http://[2001:db8::1]/", proxy.as_str()),
        ("http://local.example/", proxy.as_str()),
    ];
    let urls: Vec<&str> = cases.iter().map(|(url, _)| *url).collect();
    if let Some(answers) = run_pac(&pac, &urls) {
        for ((url, expected), answer) in cases.iter().zip(&answers) {
            assert_eq!(answer, expected, "{url}");
        }
        assert_eq!(answers.len(), cases.len());
    }
}

#[tokio::test]
async fn with_pac_direct_local_off_every_web_url_goes_through_the_proxy() {
    let strainer =
        Strainer::start_with_rules(RuleSet::default(), |config| config.pac_direct_local = false).await;
    let pac = pac_text(&strainer).await;
    let proxy = format!("PROXY {}", strainer.addr);
    assert!(!pac.contains("isInNet("), "{pac}");
    let urls = ["http://router/", "https://192.168.1.1/", "http://nas.local/", "http://strainer.internal/"];
    if let Some(answers) = run_pac(&pac, &urls) {
        assert!(answers.iter().all(|answer| *answer == proxy), "{answers:?}");
    }
}
