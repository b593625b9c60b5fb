//! Runtime settings: command-line flags merged over an optional `strainer.toml`, validated, with defaults.
//!
//! Owns every tunable of the running proxy (addresses, directories, limits, timeouts) and its documented default.
//! Knows nothing about sockets: the proxy reads a finished [`Config`].
//!
//! The settings file: `--config FILE`, else `$STRAINER_CONFIG`, else `/etc/strainer/strainer.toml` when present.
//! Its keys, defaults and documentation are listed once, in [`crate::settings::SETTINGS`]; unknown keys are
//! errors, every key is optional and flags win. Relative paths in the file (`rules`, `certs`, `upstream_ca`, and
//! the default `rules` and `certs` when a file is in use) resolve against the file's folder.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::access::{AccessError, ClientNetworks, ProxyCredentials};
use crate::reload::WatchMode;
use crate::rewrite::{DEFAULT_HOLD_CAP, DEFAULT_MEMORY_LIMIT};
use crate::telemetry::{LogFormat, LogSettings};
use crate::url_host::normalise_host;

/// Flags of `strainer run` (the default subcommand). Every flag wins over `strainer.toml`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RunArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Rules directory [default: rules].
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Directory of the local CA [default: certs].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Settings file (TOML) [default: /etc/strainer/strainer.toml when present].
    #[arg(long, value_name = "FILE", env = "STRAINER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Extra trusted root for origins (PEM), repeatable.
    #[arg(long = "upstream-ca", value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` is used when absent.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log output format.
    #[arg(long = "log-format", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Resolve HOST to IP instead of asking DNS (`news.test=127.0.0.1`), repeatable. Meant for tests and demos.
    #[arg(long = "resolve", value_name = "HOST=IP")]
    pub resolve: Vec<String>,
}

/// Default listen address: loopback only, port 8080.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default rules directory.
pub const DEFAULT_RULES_DIR: &str = "rules";
/// Default CA directory.
pub const DEFAULT_CERTS_DIR: &str = "certs";

/// Validated runtime settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Rules directory.
    pub rules_dir: PathBuf,
    /// CA directory.
    pub certs_dir: PathBuf,
    /// Extra trusted roots for origins.
    pub upstream_ca: Vec<PathBuf>,
    /// Logging.
    pub log: LogSettings,
    /// Limits and timeouts.
    pub limits: Limits,
    /// How rewritten HTML is encoded towards the browser.
    pub response_encoding: ResponseEncoding,
    /// Log the query string of request URLs (off: queries often carry personal data).
    pub log_query: bool,
    /// Add a `Via` header to forwarded requests and responses.
    pub via: bool,
    /// Host names resolved to fixed addresses instead of DNS (exact, lower-case names).
    pub resolve: BTreeMap<String, IpAddr>,
    /// CONNECT ports whose TLS is intercepted; CONNECTs to other ports are tunnelled blind.
    pub mitm_ports: Vec<u16>,
    /// How edits to the rules directory are noticed (events with a polling fallback, or polling only).
    pub rules_watch: WatchMode,
    /// Client networks allowed to connect; others are disconnected at once.
    pub allow_clients: ClientNetworks,
    /// Credentials every proxied request and CONNECT must carry, when set.
    pub proxy_auth: Option<ProxyCredentials>,
    /// The PAC file sends plain host names, `.local` names and loopback, private and link-local addresses
    /// `DIRECT` (routers and NAS boxes with certificates of their own), strainer's own names excepted.
    pub pac_direct_local: bool,
    /// A second listener serving only `/metrics`, `/healthz` and `/readyz`.
    pub metrics_listen: Option<SocketAddr>,
    /// Load balancers whose connections start with a PROXY protocol v2 header naming the real client.
    pub proxy_protocol_from: ClientNetworks,
    /// The settings file in use, if any.
    pub config_file: Option<PathBuf>,
    /// Filter lists downloaded into `rules/filters/` and kept current (`[[subscriptions]]`).
    pub subscriptions: Vec<crate::filters::subscriptions::Subscription>,
}

/// Default interception ports: HTTPS only.
pub const DEFAULT_MITM_PORTS: [u16; 1] = [443];

/// Bounds on resources and waiting. Each default is documented on its constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of a request head (request line and headers); larger heads get 431.
    pub max_header_bytes: usize,
    /// Most request header fields.
    pub max_headers: usize,
    /// Time a client has from the accept (or the end of the previous response on a kept-alive connection) to
    /// the end of its request head; a connection silent that long is closed and its slot freed.
    pub header_read_timeout: Duration,
    /// Time allowed to open a TCP connection to an origin.
    pub connect_timeout: Duration,
    /// Time allowed from sending a request to receiving the response head.
    pub first_byte_timeout: Duration,
    /// Longest pause allowed between two pieces of a response body from the origin.
    pub idle_timeout: Duration,
    /// Longest silence (no byte either way) of a blind tunnel, a WebSocket or a decrypted HTTPS session before it
    /// is closed (sessions gracefully).
    pub tunnel_idle_timeout: Duration,
    /// Most client connections served at once; further connections wait to be accepted.
    pub max_connections: usize,
    /// Most bytes a rewriter holds back for undecided elements, per response.
    pub hold_cap: usize,
    /// lol_html's memory limit per response.
    pub rewrite_memory: usize,
    /// Memory all rewriters in flight may reserve together (each its worst case); past it, HTML passes through
    /// unfiltered. See [`crate::proxy::budget`].
    pub rewrite_budget: usize,
    /// How long after a shutdown signal the listener keeps serving (not ready, `Connection: close`) before it
    /// closes, so a load balancer moves new connections elsewhere first.
    pub drain_delay: Duration,
    /// How long in-flight requests may run on after the listener closed.
    pub shutdown_grace: Duration,
    /// Time a client has for the whole TLS handshake with strainer, ClientHello included.
    pub tls_handshake_timeout: Duration,
    /// Hosts whose leaf certificate and TLS settings are cached.
    pub leaf_cache_size: u64,
}

/// Default head size limit: 64 KiB, far above real browsers' heads (cookies included) yet bounded.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest head size limit: hyper's minimum read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;
/// Default header count limit: 100, hyper's own default.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default header read timeout: 30 s, hyper's own default; ample for a browser, which sends its head at once.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default connect timeout: 10 s, enough for a slow DNS plus a TCP handshake across the world.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default first-byte timeout: 60 s, as slow dynamic pages can take a while to start.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default body idle timeout: 60 s between two body chunks.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default tunnel idle timeout: 5 min, as Privoxy's socket timeout; WebSockets and idle HTTP/2 keep-alives of a
/// blind tunnel usually ping well within it.
pub const DEFAULT_TUNNEL_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default concurrent connections: 1024, well above one browser's use and below common fd limits.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default shutdown grace: 10 s for in-flight requests to finish.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default TLS handshake timeout: 10 s, generous for a browser that shows a certificate prompt to nobody.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            tunnel_idle_timeout: DEFAULT_TUNNEL_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            hold_cap: DEFAULT_HOLD_CAP,
            rewrite_memory: DEFAULT_MEMORY_LIMIT,
            rewrite_budget: crate::proxy::budget::default_budget(),
            drain_delay: Duration::ZERO,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            leaf_cache_size: crate::tls::leaf::DEFAULT_CACHE_SIZE,
        }
    }
}

/// How rewritten HTML bodies are encoded towards the browser. Bodies that are not rewritten keep their encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseEncoding {
    /// Uncompressed: best for a browser on the same machine (no CPU, no latency from encoder buffering).
    #[default]
    Identity,
    /// gzip (fast level), for browsers reaching strainer over a network.
    Gzip,
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read.
    #[error("cannot read settings file {}", .path.display())]
    Read {
        /// The file given with `--config`.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The settings file is not valid.
    #[error("{}: {message}", .path.display())]
    Parse {
        /// The file given with `--config`.
        path: PathBuf,
        /// The parser's complaint, with line and column.
        message: String,
    },
    /// A `--resolve` / `resolve` entry is not `HOST=IP`.
    #[error("resolve entry {0:?} is not HOST=IP")]
    BadResolve(String),
    /// The metrics address is not loopback and `allow_non_loopback` is not set.
    #[error(
        "serving metrics on {0} would expose them to the network; set `allow_non_loopback = true` in the \
         settings file to do so on purpose"
    )]
    MetricsNonLoopback(SocketAddr),
    /// A `proxy_protocol_from` entry is not an address or network.
    #[error("proxy_protocol_from entry {0:?} is not an IP address or network")]
    BadBalancer(String),
    /// The listen address is not loopback and `allow_non_loopback` is not set.
    #[error(
        "listening on {0} would expose the proxy to the network; set `allow_non_loopback = true` in the \
         settings file to do so on purpose"
    )]
    NonLoopback(SocketAddr),
    /// An `allow_clients` or `proxy_auth` entry is malformed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The head size limit is below what HTTP/1 parsing needs.
    #[error("limit `max_header_bytes` is {0}; it must be at least {MIN_HEADER_BYTES}")]
    HeaderLimitTooSmall(usize),
    /// A limit is zero where zero makes no sense.
    #[error("limit `{0}` must be greater than zero")]
    ZeroLimit(&'static str),
}

/// The optional settings file, as written. Every field is optional; flags win.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    rules: Option<PathBuf>,
    certs: Option<PathBuf>,
    #[serde(default)]
    upstream_ca: Vec<PathBuf>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    allow_non_loopback: Option<bool>,
    allow_clients: Option<Vec<String>>,
    #[serde(default)]
    proxy_auth: Vec<String>,
    response_encoding: Option<ResponseEncoding>,
    log_query: Option<bool>,
    via: Option<bool>,
    #[serde(default)]
    resolve: BTreeMap<String, IpAddr>,
    mitm_ports: Option<Vec<u16>>,
    #[serde(default)]
    rules_watch: WatchMode,
    pac_direct_local: Option<bool>,
    metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    proxy_protocol_from: Vec<String>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    subscriptions: Vec<crate::filters::subscriptions::Subscription>,
}

/// `[limits]` of the settings file; durations in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    tunnel_idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    hold_cap: Option<usize>,
    rewrite_memory: Option<usize>,
    rewrite_budget: Option<usize>,
    drain_delay_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    tls_handshake_timeout_ms: Option<u64>,
    leaf_cache_size: Option<u64>,
}

// === impl Config ===

impl Config {
    /// Merges `args` over the settings file (if any) and validates the result.
    pub fn load(args: &RunArgs) -> Result<Self, ConfigError> {
        let system = Path::new(crate::settings::SYSTEM_CONFIG);
        let path = match &args.config {
            Some(path) => Some(path.clone()),
            None if system.is_file() => Some(system.to_owned()),
            None => None,
        };
        let Some(path) = path else { return Self::merge(args, FileSettings::default()) };
        let mut file = read_file(&path)?;
        file.resolve_paths(path.parent().unwrap_or(Path::new("")));
        let mut config = Self::merge(args, file)?;
        config.config_file = Some(path);
        Ok(config)
    }

    /// Settings for tests and embedding: every default, with `listen` and `rules_dir` given.
    pub fn for_listener(listen: SocketAddr, rules_dir: &Path) -> Self {
        Self {
            listen,
            rules_dir: rules_dir.to_owned(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            upstream_ca: Vec::new(),
            log: LogSettings::default(),
            limits: Limits::default(),
            response_encoding: ResponseEncoding::default(),
            log_query: false,
            via: false,
            resolve: BTreeMap::new(),
            mitm_ports: DEFAULT_MITM_PORTS.to_vec(),
            rules_watch: WatchMode::default(),
            allow_clients: ClientNetworks::default(),
            proxy_auth: None,
            pac_direct_local: true,
            metrics_listen: None,
            proxy_protocol_from: ClientNetworks::none(),
            config_file: None,
            subscriptions: Vec::new(),
        }
    }

    fn merge(args: &RunArgs, file: FileSettings) -> Result<Self, ConfigError> {
        let listen = args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        if !listen.ip().is_loopback() && !file.allow_non_loopback.unwrap_or(false) {
            return Err(ConfigError::NonLoopback(listen));
        }
        let mut resolve: BTreeMap<String, IpAddr> =
            file.resolve.into_iter().map(|(host, ip)| (normalise_host(&host).into_owned(), ip)).collect();
        for entry in &args.resolve {
            let (host, ip) = parse_resolve(entry)?;
            resolve.insert(host, ip);
        }
        let allow_clients = match &file.allow_clients {
            Some(entries) => ClientNetworks::parse(entries)?,
            None => ClientNetworks::default(),
        };
        let proxy_auth = ProxyCredentials::parse(&file.proxy_auth)?;
        let consent = file.allow_non_loopback.unwrap_or(false);
        if let Some(addr) = file.metrics_listen.filter(|a| !a.ip().is_loopback() && !consent) {
            return Err(ConfigError::MetricsNonLoopback(addr));
        }
        let proxy_protocol_from =
            ClientNetworks::parse(&file.proxy_protocol_from).map_err(|error| match error {
                AccessError::BadNetwork(entry) => ConfigError::BadBalancer(entry),
                other => ConfigError::Access(other),
            })?;
        let mut upstream_ca = file.upstream_ca;
        upstream_ca.extend(args.upstream_ca.iter().cloned());
        Ok(Self {
            listen,
            rules_dir: args.rules.clone().or(file.rules).unwrap_or_else(|| PathBuf::from(DEFAULT_RULES_DIR)),
            certs_dir: args.certs.clone().or(file.certs).unwrap_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR)),
            upstream_ca,
            log: LogSettings {
                filter: args.log.clone().or(file.log),
                format: args.log_format.or(file.log_format).unwrap_or_default(),
            },
            limits: file.limits.resolve()?,
            response_encoding: file.response_encoding.unwrap_or_default(),
            log_query: file.log_query.unwrap_or(false),
            via: file.via.unwrap_or(false),
            resolve,
            mitm_ports: file.mitm_ports.unwrap_or_else(|| DEFAULT_MITM_PORTS.to_vec()),
            rules_watch: file.rules_watch,
            allow_clients,
            proxy_auth,
            pac_direct_local: file.pac_direct_local.unwrap_or(true),
            metrics_listen: file.metrics_listen,
            proxy_protocol_from,
            config_file: None,
            subscriptions: file.subscriptions,
        })
    }
}

// === impl FileSettings ===

impl FileSettings {
    /// Resolves the file's relative paths against `folder` (the settings file's own folder); the default `rules`
    /// and `certs` directories too, so a file means the same whether it spells a default out or not.
    fn resolve_paths(&mut self, folder: &Path) {
        let rules = self.rules.take().unwrap_or_else(|| PathBuf::from(DEFAULT_RULES_DIR));
        let certs = self.certs.take().unwrap_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR));
        self.rules = Some(folder.join(rules));
        self.certs = Some(folder.join(certs));
        for ca in &mut self.upstream_ca {
            *ca = folder.join(&*ca);
        }
    }
}

// === impl FileLimits ===

impl FileLimits {
    fn resolve(self) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let ms = |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
        let limits = Limits {
            max_header_bytes: self.max_header_bytes.unwrap_or(d.max_header_bytes),
            max_headers: self.max_headers.unwrap_or(d.max_headers),
            header_read_timeout: ms(self.header_read_timeout_ms, d.header_read_timeout),
            connect_timeout: ms(self.connect_timeout_ms, d.connect_timeout),
            first_byte_timeout: ms(self.first_byte_timeout_ms, d.first_byte_timeout),
            idle_timeout: ms(self.idle_timeout_ms, d.idle_timeout),
            tunnel_idle_timeout: ms(self.tunnel_idle_timeout_ms, d.tunnel_idle_timeout),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            hold_cap: self.hold_cap.unwrap_or(d.hold_cap),
            rewrite_memory: self.rewrite_memory.unwrap_or(d.rewrite_memory),
            rewrite_budget: self.rewrite_budget.unwrap_or(d.rewrite_budget),
            drain_delay: ms(self.drain_delay_ms, d.drain_delay),
            shutdown_grace: ms(self.shutdown_grace_ms, d.shutdown_grace),
            tls_handshake_timeout: ms(self.tls_handshake_timeout_ms, d.tls_handshake_timeout),
            leaf_cache_size: self.leaf_cache_size.unwrap_or(d.leaf_cache_size),
        };
        let nonzero = [
            ("max_header_bytes", limits.max_header_bytes),
            ("max_headers", limits.max_headers),
            ("max_connections", limits.max_connections),
            ("rewrite_memory", limits.rewrite_memory),
            ("rewrite_budget", limits.rewrite_budget),
        ];
        if let Some((name, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::ZeroLimit(name));
        }
        // A zero timeout would fail every connection at once (the shutdown grace may be zero: stop at once).
        let timeouts = [
            ("header_read_timeout_ms", limits.header_read_timeout),
            ("connect_timeout_ms", limits.connect_timeout),
            ("first_byte_timeout_ms", limits.first_byte_timeout),
            ("idle_timeout_ms", limits.idle_timeout),
            ("tunnel_idle_timeout_ms", limits.tunnel_idle_timeout),
            ("tls_handshake_timeout_ms", limits.tls_handshake_timeout),
        ];
        if let Some((name, _)) = timeouts.iter().find(|(_, v)| v.is_zero()) {
            return Err(ConfigError::ZeroLimit(name));
        }
        if limits.leaf_cache_size == 0 {
            return Err(ConfigError::ZeroLimit("leaf_cache_size"));
        }
        if limits.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::HeaderLimitTooSmall(limits.max_header_bytes));
        }
        Ok(limits)
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

fn parse_resolve(entry: &str) -> Result<(String, IpAddr), ConfigError> {
    let bad = || ConfigError::BadResolve(entry.to_owned());
    let (host, ip) = entry.split_once('=').ok_or_else(bad)?;
    let host = normalise_host(host).into_owned();
    if host.is_empty() {
        return Err(bad());
    }
    let ip = ip.trim().parse().map_err(|_| bad())?;
    Ok((host, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let config = Config::load(&RunArgs::default()).expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:8080".parse::<SocketAddr>().expect("literal"));
        assert_eq!(config.rules_dir, PathBuf::from("rules"));
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.response_encoding, ResponseEncoding::Identity);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileSettings = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nrules = \"r\"\n[limits]\nidle_timeout_ms = 250\n[resolve]\n\"News.Test\" = \"127.0.0.2\"\n",
        )
        .expect("valid toml");
        let args = RunArgs {
            listen: Some("127.0.0.1:9100".parse().expect("literal")),
            resolve: vec!["news.test=127.0.0.1".to_owned()],
            ..RunArgs::default()
        };
        let config = Config::merge(&args, file).expect("valid");
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.rules_dir, PathBuf::from("r"));
        assert_eq!(config.limits.idle_timeout, Duration::from_millis(250));
        assert_eq!(config.resolve.get("news.test"), Some(&"127.0.0.1".parse().expect("literal")));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<FileSettings>("lisen = \"127.0.0.1:1\"").is_err());
        assert!(toml::from_str::<FileSettings>("[limits]\nidle = 1").is_err());
    }

    #[test]
    fn rules_watch_defaults_to_auto_and_can_force_polling() {
        let config = Config::merge(&RunArgs::default(), FileSettings::default()).expect("valid");
        assert_eq!(config.rules_watch, WatchMode::Auto);
        let file: FileSettings = toml::from_str("rules_watch = \"poll\"").expect("valid toml");
        assert_eq!(Config::merge(&RunArgs::default(), file).expect("valid").rules_watch, WatchMode::Poll);
        assert!(toml::from_str::<FileSettings>("rules_watch = \"inotify\"").is_err());
    }

    #[test]
    fn pac_direct_local_defaults_on_and_can_be_turned_off() {
        assert!(Config::merge(&RunArgs::default(), FileSettings::default()).expect("valid").pac_direct_local);
        let file: FileSettings = toml::from_str("pac_direct_local = false").expect("valid toml");
        assert!(!Config::merge(&RunArgs::default(), file).expect("valid").pac_direct_local);
        let file: FileSettings =
            toml::from_str("[limits]\nheader_read_timeout_ms = 500").expect("valid toml");
        let limits = Config::merge(&RunArgs::default(), file).expect("valid").limits;
        assert_eq!(limits.header_read_timeout, Duration::from_millis(500));
    }

    #[test]
    fn non_loopback_needs_explicit_consent() {
        let args = RunArgs { listen: Some("0.0.0.0:8080".parse().expect("literal")), ..RunArgs::default() };
        assert!(matches!(Config::merge(&args, FileSettings::default()), Err(ConfigError::NonLoopback(_))));
        let file = FileSettings { allow_non_loopback: Some(true), ..FileSettings::default() };
        assert!(Config::merge(&args, file).is_ok());
    }

    #[test]
    fn access_settings_are_parsed_and_checked() {
        let config = Config::merge(&RunArgs::default(), FileSettings::default()).expect("valid");
        assert_eq!(config.allow_clients, ClientNetworks::default());
        assert!(config.proxy_auth.is_none());
        let file: FileSettings =
            toml::from_str("allow_clients = [\"10.0.0.0/8\"]\nproxy_auth = [\"a:b\"]").expect("valid toml");
        let config = Config::merge(&RunArgs::default(), file).expect("valid");
        assert!(!config.allow_clients.permits("127.0.0.1".parse().expect("literal")));
        assert_eq!(config.proxy_auth.map(|c| c.user_count()), Some(1));
        let file: FileSettings = toml::from_str("allow_clients = [\"everyone\"]").expect("valid toml");
        assert!(matches!(Config::merge(&RunArgs::default(), file), Err(ConfigError::Access(_))));
    }

    #[test]
    fn filter_list_subscriptions_are_read_and_checked() {
        let file: FileSettings = toml::from_str(
            "[[subscriptions]]\nname = \"easylist\"\nurl = \"https://lists.example/easylist.txt\"\n",
        )
        .expect("parses");
        let config = Config::merge(&RunArgs::default(), file).expect("valid");
        assert_eq!(config.subscriptions[0].refresh_minutes, 24 * 60);
        assert!(toml::from_str::<FileSettings>("[[subscriptions]]\nname = \"../x\"\nurl = \"https://a/\"\n")
            .is_err());
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        for key in [
            "header_read_timeout_ms",
            "connect_timeout_ms",
            "tunnel_idle_timeout_ms",
            "tls_handshake_timeout_ms",
        ] {
            let file: FileSettings = toml::from_str(&format!("[limits]\n{key} = 0")).expect("valid toml");
            let outcome = Config::merge(&RunArgs::default(), file);
            assert!(matches!(outcome, Err(ConfigError::ZeroLimit(name)) if name == key), "{key}");
        }
        let file: FileSettings = toml::from_str("[limits]\nshutdown_grace_ms = 0").expect("valid toml");
        assert!(Config::merge(&RunArgs::default(), file).is_ok(), "a zero grace means: stop at once");
    }

    /// The keys a table of the settings file accepts, read from the parser's own complaint about an unknown key.
    fn accepted_keys(table: &str) -> Vec<String> {
        let text =
            if table.is_empty() { "not_a_key = 1".to_owned() } else { format!("[{table}]\nnot_a_key = 1") };
        let message = toml::from_str::<FileSettings>(&text).map(|_| ()).expect_err("unknown key").to_string();
        let (_, expected) = message.split_once("expected one of").expect("serde lists the expected keys");
        let prefix = if table.is_empty() { String::new() } else { format!("{table}.") };
        expected.split('`').skip(1).step_by(2).map(|key| format!("{prefix}{key}")).collect()
    }

    #[test]
    fn the_parser_accepts_exactly_the_documented_keys() {
        let mut parsed = accepted_keys("");
        parsed.retain(|k| k != "limits");
        parsed.extend(accepted_keys("limits"));
        parsed.sort();
        let mut listed: Vec<String> = crate::settings::SETTINGS.iter().map(|s| s.key.to_owned()).collect();
        listed.sort();
        assert_eq!(parsed, listed, "src/settings.rs and FileSettings disagree");
    }

    #[test]
    fn the_documented_defaults_are_the_defaults_in_force() {
        let example: FileSettings = toml::from_str(&crate::settings::example_toml()).expect("example parses");
        let written = Config::merge(&RunArgs::default(), example).expect("example is valid");
        let empty = Config::merge(&RunArgs::default(), FileSettings::default()).expect("defaults are valid");
        assert_eq!(format!("{written:?}"), format!("{empty:?}"));
        // Each commented-out example is valid too (uncommented, one at a time).
        for setting in crate::settings::SETTINGS.iter().filter(|s| s.default.is_none()) {
            let text = match setting.key.split_once('.') {
                Some((table, key)) => format!("[{table}]\n{key} = {}", setting.example),
                None => format!("{} = {}", setting.key, setting.example),
            };
            let file: FileSettings = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(Config::merge(&RunArgs::default(), file).is_ok(), "{text}");
        }
    }

    #[test]
    fn the_shipped_example_and_the_readme_are_generated_from_the_list() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let example = crate::settings::example_toml();
        let shipped =
            std::fs::read_to_string(root.join("strainer.example.toml")).expect("strainer.example.toml");
        assert!(
            shipped == example,
            "strainer.example.toml is stale: `cargo run -- settings > strainer.example.toml`"
        );
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
        assert!(
            readme.contains(&format!("```toml\n{example}```\n")),
            "the README's settings block differs from `strainer settings`"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_settings_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("strainer.toml");
        std::fs::write(&path, "certs = \"state/ca\"\nupstream_ca = [\"ca.pem\", \"/abs/ca.pem\"]\n")
            .expect("write");
        let args = RunArgs { config: Some(path.clone()), ..RunArgs::default() };
        let config = Config::load(&args).expect("valid");
        assert_eq!(config.rules_dir, dir.path().join("rules"));
        assert_eq!(config.certs_dir, dir.path().join("state/ca"));
        assert_eq!(config.upstream_ca, vec![dir.path().join("ca.pem"), PathBuf::from("/abs/ca.pem")]);
        assert_eq!(config.config_file, Some(path.clone()));
        // Flags stay relative to the working directory.
        let args = RunArgs { config: Some(path), rules: Some(PathBuf::from("mine")), ..RunArgs::default() };
        assert_eq!(Config::load(&args).expect("valid").rules_dir, PathBuf::from("mine"));
    }

    #[test]
    fn balancers_and_metrics_address_are_checked() {
        let file: FileSettings = toml::from_str("proxy_protocol_from = [\"lb\"]").expect("valid toml");
        assert!(matches!(Config::merge(&RunArgs::default(), file), Err(ConfigError::BadBalancer(_))));
        let file: FileSettings = toml::from_str("metrics_listen = \"0.0.0.0:9100\"").expect("valid toml");
        assert!(matches!(Config::merge(&RunArgs::default(), file), Err(ConfigError::MetricsNonLoopback(_))));
        let file: FileSettings =
            toml::from_str("proxy_protocol_from = [\"127.0.0.1\"]\nmetrics_listen = \"127.0.0.1:9100\"")
                .expect("valid toml");
        let config = Config::merge(&RunArgs::default(), file).expect("valid");
        assert!(config.proxy_protocol_from.permits("127.0.0.1".parse().expect("literal")));
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9100));
    }

    #[test]
    fn bad_resolve_entries_are_errors() {
        for bad in ["news.test", "=127.0.0.1", "news.test=not-an-ip"] {
            assert!(parse_resolve(bad).is_err(), "{bad}");
        }
    }
}
