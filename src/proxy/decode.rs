//! Response bodies as byte streams: the origin's body with an idle timeout and a byte counter, and content
//! decoding (gzip, deflate as zlib or raw, br, zstd) in the stream. Knows nothing of HTML or rules.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_compression::tokio::bufread::{
    BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder,
};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use http::HeaderMap;
use http_body::Body;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use tokio_util::io::{ReaderStream, StreamReader};

/// A content coding strainer can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// gzip / x-gzip (multi-member allowed).
    Gzip,
    /// "deflate": zlib-wrapped per RFC 9110, raw deflate from some servers; told apart by the first bytes.
    Deflate,
    /// Brotli.
    Brotli,
    /// Zstandard.
    Zstd,
}

/// The codings of a `Content-Encoding` header, in the order they were applied. `None` when one of them is
/// unknown (the body then passes through untouched). `identity` is skipped.
pub fn codings(headers: &HeaderMap) -> Option<Vec<Coding>> {
    let mut list = Vec::new();
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let text = value.to_str().ok()?;
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let coding = match item.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                _ => return None,
            };
            list.push(coding);
        }
    }
    Some(list)
}

/// Undoes `codings` (applied in that order) on `body`, last applied first.
pub async fn decode(
    mut body: BoxStream<'static, io::Result<Bytes>>,
    codings: &[Coding],
) -> BoxStream<'static, io::Result<Bytes>> {
    for coding in codings.iter().rev() {
        body = match coding {
            Coding::Gzip => {
                let mut decoder = GzipDecoder::new(StreamReader::new(body));
                decoder.multiple_members(true);
                ReaderStream::new(decoder).boxed()
            }
            Coding::Brotli => ReaderStream::new(BrotliDecoder::new(StreamReader::new(body))).boxed(),
            Coding::Zstd => {
                let mut decoder = ZstdDecoder::new(StreamReader::new(body));
                decoder.multiple_members(true);
                ReaderStream::new(decoder).boxed()
            }
            Coding::Deflate => inflate(body).await,
        };
    }
    body
}

/// Inflates "deflate" bodies, looking at the first chunk to tell a zlib header from raw deflate.
async fn inflate(mut body: BoxStream<'static, io::Result<Bytes>>) -> BoxStream<'static, io::Result<Bytes>> {
    let first = match body.next().await {
        None => return stream::empty().boxed(),
        Some(Err(e)) => return stream::once(async move { Err(e) }).boxed(),
        Some(Ok(first)) => first,
    };
    let zlib = has_zlib_header(&first);
    let body = stream::once(async move { Ok(first) }).chain(body).boxed();
    if zlib {
        ReaderStream::new(ZlibDecoder::new(StreamReader::new(body))).boxed()
    } else {
        ReaderStream::new(DeflateDecoder::new(StreamReader::new(body))).boxed()
    }
}

/// RFC 1950: compression method 8, window ≤ 32 KiB, and the two header bytes a multiple of 31.
fn has_zlib_header(first: &[u8]) -> bool {
    match first {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        [cmf] => cmf & 0x0f == 8 && cmf >> 4 <= 7,
        [] => true,
    }
}

// === impl OriginBody ===

/// The origin's response body as data chunks: counts bytes, fails when the origin stalls longer than the idle
/// timeout. Trailers are dropped.
pub struct OriginBody {
    body: Incoming,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    bytes_in: Arc<AtomicU64>,
}

/// The origin sent nothing for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("origin body stalled for more than {0:?}")]
pub struct BodyStalled(Duration);

impl OriginBody {
    /// Wraps `body`; `bytes_in` is increased by every data byte received.
    pub fn new(body: Incoming, idle: Duration, bytes_in: Arc<AtomicU64>) -> Self {
        Self { body, idle, timer: Box::pin(tokio::time::sleep(idle)), bytes_in }
    }
}

impl Stream for OriginBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.timer.as_mut().reset(Instant::now() + this.idle);
                    match frame.into_data() {
                        Ok(data) if !data.is_empty() => {
                            this.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
                            return Poll::Ready(Some(Ok(data)));
                        }
                        _ => continue,
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(io::Error::other(e)))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        let stalled = BodyStalled(this.idle);
                        return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, stalled))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn content_encoding_lists_parse_and_unknown_codings_refuse() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip, br"));
        assert_eq!(codings(&headers), Some(vec![Coding::Gzip, Coding::Brotli]));
        headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert_eq!(codings(&headers), Some(vec![]));
        headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("dcz"));
        assert_eq!(codings(&headers), None);
        assert_eq!(codings(&HeaderMap::new()), Some(vec![]));
    }

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        assert!(has_zlib_header(&[0x78, 0x9c, 0]));
        assert!(has_zlib_header(&[0x78, 0x01]));
        assert!(!has_zlib_header(&[0xf3, 0x48, 0xcd]));
    }

    async fn roundtrip(coded: Vec<u8>, coding: Coding) -> Vec<u8> {
        let halves: Vec<io::Result<Bytes>> = coded.chunks(7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut out = decode(stream::iter(halves).boxed(), &[coding]).await;
        let mut plain = Vec::new();
        while let Some(chunk) = out.next().await {
            plain.extend_from_slice(&chunk.expect("decodes"));
        }
        plain
    }

    #[tokio::test]
    async fn deflate_decodes_both_zlib_and_raw() {
        use std::io::Write;
        let text = b"<p>hello hello hello deflate</p>".repeat(20);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&text).expect("in memory");
        assert_eq!(roundtrip(zlib.finish().expect("in memory"), Coding::Deflate).await, text);
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&text).expect("in memory");
        assert_eq!(roundtrip(raw.finish().expect("in memory"), Coding::Deflate).await, text);
    }
}
