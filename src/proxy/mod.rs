//! The proxy server: accept loop, per-connection service, graceful drain. The only user of hyper's server.
//!
//! Clients outside `allow_clients` are disconnected at accept; with `proxy_auth` set, requests without accepted
//! credentials get 407 (except the public local pages a browser fetches before it has any: PAC file, CA).
//!
//! Every request goes one of three ways: `CONNECT` → [`connect`] (tunnel or HTTPS interception, whose decrypted
//! requests come back through [`dispatch`]), a request for strainer itself → [`local`], anything else →
//! [`forward`] (or [`websocket`] for an upgrade).

pub mod body;
pub mod budget;
pub mod client;
pub mod connect;
pub mod decode;
pub mod drain;
pub mod forward;
pub mod headers;
pub mod health;
pub mod local;
pub mod log;
pub mod onboarding;
pub mod proxy_header;
pub mod refusals;
pub mod relay;
pub mod respond;
pub mod websocket;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use self::log::RequestLog;
use crate::config::Config;
use crate::metrics::{Metrics, Mode, Open};
use crate::reload::{self, RuleStore};
use crate::tls::ca::{CaError, CertificateAuthority};
use crate::tls::leaf::{LeafCerts, LeafError};
use crate::tls::upstream::UpstreamTlsError;
use client::UpstreamClient;
use forward::RequestContext;

/// Errors of response bodies sent to the browser.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response strainer sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A client connection's share of `max_connections`. The connection task holds it, and so does everything that
/// outlives the HTTP exchange it came from (tunnels, decrypted sessions, WebSockets): the slot frees when the last
/// of them ends.
pub type ConnectionSlot = Arc<tokio::sync::OwnedSemaphorePermit>;

/// Reports the last rule-reload error for the status page (`None` when the last reload succeeded).
pub type ReloadStatus = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Why the proxy could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The rules did not load; every error has been printed.
    #[error("{0} error(s) in the rules; not starting")]
    Rules(usize),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Rule reloading could not be started.
    #[error(transparent)]
    Reload(crate::reload::WatchError),
    /// The upstream TLS settings are unusable.
    #[error(transparent)]
    UpstreamTls(#[from] UpstreamTlsError),
    /// The local CA cannot be loaded or created.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Leaf certificates cannot be minted.
    #[error(transparent)]
    Leaf(#[from] LeafError),
}

/// Everything a request handler needs, shared by all connections.
pub struct State {
    /// Validated settings.
    pub config: Config,
    /// The live rules; snapshot once per request.
    pub rules: RuleStore,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The pooled upstream client.
    pub client: UpstreamClient,
    /// Plain TCP connections to origins (tunnels, WebSockets), with the same resolver and loop guard.
    pub connector: client::LoopGuard,
    /// Leaf certificates for intercepted hosts, signed by the local CA.
    pub leaf_certs: Arc<LeafCerts>,
    /// TLS settings towards origins for WebSocket connections (HTTP/1.1 only).
    pub websocket_tls: Arc<rustls::ClientConfig>,
    /// The address the listener is bound to.
    pub local_addr: SocketAddr,
    /// The last reload error, when a reloader reports one.
    pub reload_status: Option<ReloadStatus>,
    /// Decrypted sessions inside CONNECT tunnels, drained at shutdown.
    pub sessions: drain::Drainable,
    /// The global memory budget of rewriters in flight (`limits.rewrite_budget`).
    pub rewrite_budget: Arc<budget::RewriteBudget>,
    /// Set when a shutdown signal arrived: `/readyz` answers 503 and responses close their connection.
    pub draining: health::Draining,
}

/// A bound, not yet running proxy. Tests bind to `127.0.0.1:0`, read [`Server::local_addr`], then
/// [`Server::run_until`] a shutdown future.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<State>,
}

/// Runs the proxy until SIGTERM / Ctrl-C: loads the rules (failing with every error printed) and keeps them current
/// (directory watch, polling fallback, SIGHUP; see [`reload`]), binds, prints how to use it, serves, drains.
pub async fn run(config: Config) -> Result<(), ProxyError> {
    let metrics = Arc::new(Metrics::default());
    let watch = reload::WatchSettings { mode: config.rules_watch, ..reload::WatchSettings::default() };
    let (rules, _reloading) =
        match reload::start(&config.rules_dir, reload::rules_loader(), metrics.clone(), &watch) {
            Ok(started) => started,
            Err(reload::StartError::Rules(errors)) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                return Err(ProxyError::Rules(errors.len()));
            }
            Err(reload::StartError::Watch(error)) => return Err(ProxyError::Reload(error)),
        };
    let rule_count = rules.current().rule_count();
    let status_rules = rules.clone();
    let server = Server::bind(config, rules, metrics)
        .await?
        .with_reload_status(Arc::new(move || status_rules.last_error().map(|failure| failure.to_string())));
    let addr = server.local_addr();
    crate::filters::subscriptions::spawn(
        server.state.config.subscriptions.clone(),
        server.state.config.rules_dir.clone(),
        client::subscription_fetcher(server.state.client.clone()),
        Arc::clone(&server.state.metrics),
    );
    let access = &server.state.config;
    let auth_users = access.proxy_auth.as_ref().map_or(0, |c| c.user_count());
    tracing::info!(
        listen = %addr,
        rules = rule_count,
        allow_clients = %access.allow_clients,
        auth_users,
        "proxy listening"
    );
    println!("strainer listening on http://{addr} with {rule_count} rule(s)");
    println!("  browser proxy (HTTP and HTTPS): {addr}");
    println!("  or automatic configuration:     http://{addr}/proxy.pac");
    println!("  then open {} through the proxy", local::LOCAL_URL);
    if !addr.ip().is_loopback() {
        println!("  clients allowed from: {}", access.allow_clients);
    }
    if auth_users > 0 {
        println!("  proxy login required ({auth_users} user(s) in proxy_auth)");
    }
    if let Some(metrics_addr) = server.metrics_addr() {
        tracing::info!(metrics_listen = %metrics_addr, "metrics listening");
        println!("  metrics and health: http://{metrics_addr}/metrics, /healthz, /readyz");
    }
    crate::service::notify(
        crate::service::ServiceState::Ready,
        &format!("listening on {addr} with {rule_count} rule(s)"),
    );
    server.run_until(shutdown_signal()).await
}

// === impl Server ===

impl Server {
    /// Binds `config.listen` and prepares to serve `rules`.
    pub async fn bind(config: Config, rules: RuleStore, metrics: Arc<Metrics>) -> Result<Self, ProxyError> {
        let addr = config.listen;
        let listener = TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?)
            }
            None => None,
        };
        let mut server = Self::from_listener(listener, config, rules, metrics)?;
        server.metrics_listener = metrics_listener;
        Ok(server)
    }

    /// Prepares to serve on an already bound `listener` (its address wins over `config.listen`).
    pub fn from_listener(
        listener: TcpListener,
        config: Config,
        rules: RuleStore,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ProxyError> {
        let addr = config.listen;
        let local_addr = listener.local_addr().map_err(|source| ProxyError::Bind { addr, source })?;
        let connector = client::tcp_connector(&config, local_addr);
        let client = client::build(&config, connector.clone())?;
        let websocket_tls = Arc::new(websocket::tls_config(&config)?);
        let (ca, _) = CertificateAuthority::load_or_create(&config.certs_dir)?;
        let leaf_certs = Arc::new(LeafCerts::new(Arc::new(ca), config.limits.leaf_cache_size)?);
        metrics.register(Box::new(leaf_certs.cache_counter()));
        let rewrite_budget = budget::RewriteBudget::new(config.limits.rewrite_budget, metrics.clone());
        let state = State {
            config,
            rules,
            metrics,
            client,
            connector,
            leaf_certs,
            websocket_tls,
            local_addr,
            reload_status: None,
            sessions: drain::Drainable::default(),
            rewrite_budget,
            draining: health::Draining::default(),
        };
        state.metrics.set_ready(health::not_ready(&state).is_none());
        Ok(Self { listener, metrics_listener: None, state: Arc::new(state) })
    }

    /// Shows `status` (the last reload error) on the status page.
    pub fn with_reload_status(mut self, status: ReloadStatus) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.reload_status = Some(status);
        }
        self
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.state.local_addr
    }

    /// The address of the `metrics_listen` listener, when one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The counters this server updates.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight connections finish for up to
    /// the configured grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let Server { listener, metrics_listener, state } = self;
        let limits = &state.config.limits;
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let running = drain::Drainable::default();
        let side = drain::Drainable::default();
        if let Some(listener) = metrics_listener {
            side.spawn(serve_metrics(listener, state.clone(), side.stopping()));
        }
        // HTTP/1.1 only: the listener never speaks cleartext HTTP/2, whose connections would escape the header
        // limits and the header read timeout. The timeout runs from the accept, so a silent client cannot hold its
        // slot (and, between requests, bounds a kept-alive connection's idleness).
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes)
            .max_headers(limits.max_headers);
        let builder = Arc::new(builder);
        let mut connections: u64 = 0;
        let refusals = Arc::new(std::sync::Mutex::new(refusals::RefusalLog::new(std::time::Instant::now())));
        // A shutdown signal first makes the proxy draining (not ready; responses close their connections) while it
        // still accepts for `drain_delay`, so a load balancer's health checks move new clients elsewhere first.
        let drain_delay = limits.drain_delay;
        let stop_state = state.clone();
        let stop_accepting = async move {
            shutdown.await;
            stop_state.draining.start();
            stop_state.metrics.set_ready(false);
            crate::service::notify(crate::service::ServiceState::Stopping, "draining");
            if !drain_delay.is_zero() {
                tracing::info!(drain_delay_ms = millis(drain_delay), "draining: not ready, still serving");
                tokio::time::sleep(drain_delay).await;
            }
        };
        tokio::pin!(stop_accepting);
        loop {
            let permit = tokio::select! {
                biased;
                () = &mut stop_accepting => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut stop_accepting => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Usually out of file descriptors: back off briefly instead of spinning.
                        tracing::warn!(error = %error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            let from_balancer = state.config.proxy_protocol_from.permits(peer.ip());
            if !from_balancer && !state.config.allow_clients.permits(peer.ip()) {
                refuse(&state, &refusals, peer);
                continue;
            }
            connections += 1;
            let _ = stream.set_nodelay(true);
            let conn_state = state.clone();
            let refusals = refusals.clone();
            let builder = builder.clone();
            let stop = running.stopping();
            running.spawn(async move {
                let mut stream = stream;
                let client = if from_balancer {
                    let timeout = conn_state.config.limits.header_read_timeout;
                    match proxy_header::read_client(&mut stream, peer, timeout).await {
                        Ok(client) => client,
                        Err(error) => {
                            conn_state.metrics.record_refused_connection();
                            tracing::warn!(balancer = %peer, error = %error, "connection from a load balancer refused");
                            return;
                        }
                    }
                } else {
                    peer
                };
                if from_balancer && !conn_state.config.allow_clients.permits(client.ip()) {
                    refuse(&conn_state, &refusals, client);
                    return;
                }
                let _open = conn_state.metrics.open(Open::Connection);
                let slot: ConnectionSlot = Arc::new(permit);
                let service_state = conn_state.clone();
                let service = service_fn(move |request| {
                    let ctx = RequestContext { client, mode: Mode::Plain, slot: slot.clone() };
                    let state = service_state.clone();
                    async move { Ok::<_, Infallible>(serve(state, ctx, request).await) }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
                let span = match from_balancer {
                    true => tracing::info_span!("connection", client = %client, balancer = %peer),
                    false => tracing::info_span!("connection", client = %client),
                };
                async move {
                    tokio::pin!(connection);
                    let outcome = tokio::select! {
                        outcome = connection.as_mut() => outcome,
                        () = stop.cancelled() => {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(error) = outcome {
                        tracing::debug!(error = %error, "connection ended with an error");
                    }
                }
                .instrument(span)
                .await;
            });
        }
        drop(listener);
        {
            let mut refusals = refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = refusals.summarise(std::time::Instant::now());
        }
        let grace = state.config.limits.shutdown_grace;
        tracing::info!(grace_ms = millis(grace), "shutting down; draining connections");
        let both = async { tokio::join!(running.drain(), state.sessions.drain()) };
        let drained = tokio::time::timeout(grace, both).await.is_ok();
        let _ = tokio::time::timeout(ACCEPT_BACKOFF, side.drain()).await;
        let counters = state.metrics.snapshot();
        tracing::info!(
            connections,
            requests = counters.requests,
            errors = counters.errors,
            drained,
            "proxy stopped"
        );
        Ok(())
    }
}

/// Counts and logs (rate-limited) a connection refused because `client` is not in `allow_clients`.
fn refuse(state: &State, refusals: &std::sync::Mutex<refusals::RefusalLog>, client: SocketAddr) {
    state.metrics.record_refused_connection();
    // A poisoned lock only means a thread panicked mid-update of the refusal log: keep using it.
    let mut refusals = refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = refusals.refused(client, std::time::Instant::now());
}

/// Serves `/metrics`, `/healthz` and `/readyz` (nothing else) on the `metrics_listen` listener to clients in
/// `allow_clients`, without proxy credentials, until `stop` is cancelled.
async fn serve_metrics(listener: TcpListener, state: Arc<State>, stop: tokio_util::sync::CancellationToken) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(state.config.limits.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error = %error, "metrics accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if !state.config.allow_clients.permits(peer.ip()) {
            state.metrics.record_refused_connection();
            continue;
        }
        let service_state = state.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let state = service_state.clone();
            async move {
                let path = request.uri().path();
                let response = match path {
                    "/metrics" => {
                        respond::ok(crate::metrics::PROMETHEUS_CONTENT_TYPE, state.metrics.render())
                    }
                    _ => health::answer(&state, path),
                };
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "metrics connection ended with an error");
            }
        });
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Routes one request: CONNECT, strainer's own pages, or forwarding.
async fn serve(state: Arc<State>, ctx: RequestContext, request: Request<Incoming>) -> Response<ProxyBody> {
    let span = tracing::info_span!("request", method = %request.method(), uri_host = request.uri().host().unwrap_or(""));
    async move {
        if health::is_health(request.uri()) {
            return closing_if_draining(&state, health::answer(&state, request.uri().path()));
        }
        if let Some(credentials) = &state.config.proxy_auth {
            if !credentials.accepts(request.headers()) && !local::is_public(request.uri()) {
                return deny(&state, ctx.client, &request);
            }
        }
        if request.method() == Method::CONNECT {
            return connect::handle(state, ctx, request).await;
        }
        let response = dispatch(state.clone(), ctx, request).await;
        closing_if_draining(&state, response)
    }
    .instrument(span)
    .await
}

/// While draining, asks the client to close the connection after this response (hyper then closes it), so its
/// next request opens a new connection, which a load balancer sends to another instance.
fn closing_if_draining(state: &State, mut response: Response<ProxyBody>) -> Response<ProxyBody> {
    // A 101 keeps its `Connection: upgrade`: the WebSocket it opens is drained like a tunnel.
    if state.draining.is_draining() && response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// The 407 answer (and its log record) to a request without accepted proxy credentials.
fn deny(state: &State, client: SocketAddr, request: &Request<Incoming>) -> Response<ProxyBody> {
    let mut log = RequestLog::start(
        state.metrics.clone(),
        client,
        request.method(),
        request.uri(),
        state.config.log_query,
    );
    log.mode = Mode::Denied;
    log.answer(respond::proxy_auth_required())
}

/// Routes a request with an absolute `http`/`https` URI (plain, or decrypted from a tunnel): strainer's own pages,
/// a WebSocket upgrade, or forwarding. Userinfo in the URI is dropped first: it is never forwarded or logged. A
/// `CONNECT` (only a decrypted session can pass one here) is refused with 405.
pub async fn dispatch(
    state: Arc<State>,
    ctx: RequestContext,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let uri = std::mem::take(request.uri_mut());
    *request.uri_mut() = headers::without_userinfo(uri);
    if request.method() == Method::CONNECT {
        // Only a decrypted session passes a CONNECT here: answer it, never forward it to the origin.
        let mut log = ctx.start_log(&state, &request);
        let failure = respond::Failure::NestedConnect;
        log.fail(&failure);
        return log.answer(failure.response());
    }
    if local::is_local(request.uri()) {
        return local::answer(&state, ctx.client, &request);
    }
    if websocket::is_upgrade(&request) {
        return websocket::relay(state, ctx, request).await;
    }
    forward::forward(state, ctx, request).await
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
