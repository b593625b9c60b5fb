//! Byte relays that outlive their HTTP exchange — blind CONNECT tunnels and WebSockets: copied both ways until
//! either side closes, or until nothing has moved for the tunnel idle limit (so a silent peer cannot hold a
//! connection slot forever). [`Watched`] and [`Activity`] also let decrypted HTTPS sessions notice silence.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::log::RequestLog;

/// Copies between `client` and `origin` until one side closes or `idle` passes without a byte moving either way,
/// then records the bytes (or the failure) in `log`; `what` names the relay in events (`tunnel`, `WebSocket`).
/// An idle close is a normal end, not an error.
pub async fn splice<C, O>(client: C, origin: O, idle: Duration, log: &mut RequestLog, what: &str)
where
    C: AsyncRead + AsyncWrite + Unpin,
    O: AsyncRead + AsyncWrite + Unpin,
{
    let relayed = copy_both_ways(client, origin, idle).await;
    log.bytes_out = relayed.to_client;
    log.bytes_in.store(relayed.to_client, Ordering::Relaxed);
    let (to_origin, to_client) = (relayed.to_origin, relayed.to_client);
    match relayed.end {
        End::Closed => tracing::debug!(host = %log.host, to_origin, to_client, "{what} closed"),
        End::Idle => {
            tracing::debug!(host = %log.host, to_origin, to_client, idle_ms = idle.as_millis() as u64, "{what} idle; closed");
        }
        End::Failed(error) => log.fail(format!("{what} broke: {error}")),
    }
}

/// How a relay went: bytes read from each side, and why it ended.
#[derive(Debug)]
struct Relayed {
    to_origin: u64,
    to_client: u64,
    end: End,
}

/// Why a relay ended.
#[derive(Debug)]
enum End {
    /// Both sides closed.
    Closed,
    /// Nothing moved for the idle limit.
    Idle,
    /// A side failed.
    Failed(io::Error),
}

/// `tokio::io::copy_bidirectional` with an idle limit: stops once `idle` passes without any byte moving.
async fn copy_both_ways<C, O>(client: C, origin: O, idle: Duration) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin,
    O: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity::new();
    let mut client = Watched::new(client, activity.clone());
    let mut origin = Watched::new(origin, activity.clone());
    let end = tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut origin) => {
            copied.map_or_else(End::Failed, |_| End::Closed)
        }
        () = activity.silence(idle) => End::Idle,
    };
    Relayed { to_origin: client.bytes_read, to_client: origin.bytes_read, end }
}

/// When bytes last moved through the streams that share it.
#[derive(Clone)]
pub struct Activity {
    start: Instant,
    /// Nanoseconds after `start` of the last read or write that moved bytes.
    last_nanos: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// Activity starting now.
    pub fn new() -> Self {
        Self { start: Instant::now(), last_nanos: Arc::new(AtomicU64::new(0)) }
    }

    fn touch(&self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_nanos.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }

    /// Completes once no byte has moved for `idle`.
    pub async fn silence(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            tokio::time::sleep_until(deadline).await;
            if self.last() + idle <= Instant::now() {
                return;
            }
        }
    }
}

/// A stream that counts the bytes read from it and reports every read or write that moved bytes to its
/// [`Activity`].
pub struct Watched<IO> {
    inner: IO,
    activity: Activity,
    bytes_read: u64,
}

impl<IO> Watched<IO> {
    /// Wraps `inner`, reporting to `activity`.
    pub fn new(inner: IO, activity: Activity) -> Self {
        Self { inner, activity, bytes_read: 0 }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.bytes_read += read as u64;
            self.activity.touch();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_relay_times_out_and_a_busy_one_does_not() {
        let (client, mut browser) = tokio::io::duplex(64);
        let (origin, mut site) = tokio::io::duplex(64);
        let idle = Duration::from_secs(300);
        let relay = tokio::spawn(copy_both_ways(client, origin, idle));
        // Traffic every 200 s keeps it open well past one idle period.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(200)).await;
            browser.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            site.read_exact(&mut got).await.expect("relayed");
        }
        assert!(!relay.is_finished(), "busy relay must stay open");
        tokio::time::sleep(Duration::from_secs(301)).await;
        let relayed = relay.await.expect("relay task");
        assert!(matches!(relayed.end, End::Idle), "{relayed:?}");
        assert_eq!((relayed.to_origin, relayed.to_client), (12, 0));
    }

    #[tokio::test]
    async fn a_relay_ends_when_a_side_closes() {
        let (client, mut browser) = tokio::io::duplex(64);
        let (origin, mut site) = tokio::io::duplex(64);
        let relay = tokio::spawn(copy_both_ways(client, origin, Duration::from_secs(60)));
        browser.write_all(b"hello").await.expect("write");
        let mut got = [0u8; 5];
        site.read_exact(&mut got).await.expect("relayed");
        site.write_all(b"bye").await.expect("write");
        drop(site);
        let mut back = Vec::new();
        browser.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, b"bye");
        drop(browser);
        let relayed = relay.await.expect("relay task");
        assert!(matches!(relayed.end, End::Closed), "{relayed:?}");
        assert_eq!((relayed.to_origin, relayed.to_client), (5, 3));
    }
}
