//! A minimal origin for the end-to-end benchmarks: serves one file on every path, HTTP/1.1 keep-alive, on
//! `127.0.0.1:0`, and prints `listening on ADDR` once ready.
//!
//! Usage: `cargo run --release --example bench-origin -- FILE [CONTENT-TYPE]`. With `FILE` = `--html-mb N` it
//! instead streams an N MB HTML page (article paragraphs, chunked), for memory measurements.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http::{header, Response};
use http_body::Frame;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// One paragraph of the generated large page.
const PARAGRAPH: &[u8] = b"<p>An ordinary article paragraph of a long page, with a <a href=\"/news/other-story/?utm_source=feed\">link</a> and enough words to look like prose in a news article body.</p>\n";

#[derive(Clone)]
enum Content {
    File(Bytes, &'static str),
    LargeHtml(usize),
}

fn body_of(content: &Content) -> UnsyncBoxBody<Bytes, Infallible> {
    match content {
        Content::File(bytes, _) => Full::new(bytes.clone()).boxed_unsync(),
        Content::LargeHtml(megabytes) => {
            let chunk = Bytes::from(PARAGRAPH.repeat(64 * 1024 / PARAGRAPH.len()));
            let count = megabytes * 1024 * 1024 / chunk.len();
            let head =
                Bytes::from_static(b"<!DOCTYPE html><html><head><title>long</title></head><body><article>");
            let tail = Bytes::from_static(b"</article></body></html>\n");
            let parts =
                std::iter::once(head).chain(std::iter::repeat_n(chunk, count)).chain(std::iter::once(tail));
            StreamBody::new(stream::iter(parts.map(|b| Ok(Frame::data(b))))).boxed_unsync()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args.next().ok_or("usage: bench-origin FILE [CONTENT-TYPE] | --html-mb N")?;
    let content = if first == "--html-mb" {
        Content::LargeHtml(args.next().ok_or("--html-mb needs a number")?.parse()?)
    } else {
        let content_type: &'static str =
            Box::leak(args.next().unwrap_or_else(|| "text/html; charset=utf-8".to_owned()).into_boxed_str());
        Content::File(Bytes::from(std::fs::read(&first)?), content_type)
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let content = content.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let content = content.clone();
                async move {
                    let content_type = match &content {
                        Content::File(_, content_type) => *content_type,
                        Content::LargeHtml(_) => "text/html; charset=utf-8",
                    };
                    let mut response = Response::new(body_of(&content));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
