//! Settling a page's character encoding before rewriting: byte-order mark, then the `Content-Type` charset, then a
//! `<meta>` prescan of the first 1024 bytes, else UTF-8.
//!
//! The BOM goes first because browsers let it override everything; decoding differently from the browser is
//! what corrupts pages. Encodings lol_html cannot rewrite (UTF-16, ISO-2022-JP, `replacement`) mean "pass the
//! page through untouched".

use encoding_rs::Encoding;
use lol_html::AsciiCompatibleEncoding;

/// How many leading bytes the `<meta>` prescan looks at (and the most the rewriter holds before starting).
pub(super) const PRESCAN_LEN: usize = 1024;

/// The outcome of sniffing.
#[derive(Clone, Copy, Debug)]
pub(super) enum Charset {
    /// Rewrite in this encoding.
    Rewrite(AsciiCompatibleEncoding),
    /// Pass the page through untouched.
    Unsupported,
}

/// The charset once enough of the page is known: `head` is the start of the page, `complete` says whether it
/// is all of it or at least [`PRESCAN_LEN`] bytes. `None` means more bytes are needed.
pub(super) fn sniff(header: Option<&str>, head: &[u8], complete: bool) -> Option<Charset> {
    if head.len() < 3 && !complete {
        return None;
    }
    if let Some(encoding) = bom(head) {
        return Some(rewritable(encoding));
    }
    if let Some(encoding) = header.and_then(|label| Encoding::for_label(label.trim().as_bytes())) {
        return Some(rewritable(encoding));
    }
    match prescan(head) {
        Some(encoding) => Some(rewritable(encoding)),
        None if complete || head.len() >= PRESCAN_LEN => Some(rewritable(encoding_rs::UTF_8)),
        None => None,
    }
}

fn rewritable(encoding: &'static Encoding) -> Charset {
    AsciiCompatibleEncoding::new(encoding).map_or(Charset::Unsupported, Charset::Rewrite)
}

fn bom(head: &[u8]) -> Option<&'static Encoding> {
    Encoding::for_bom(head).map(|(encoding, _)| encoding)
}

/// A simplified form of the HTML "prescan a byte stream to determine its encoding" algorithm over the first
/// [`PRESCAN_LEN`] bytes: comments and other tags are skipped; `<meta charset>` and `<meta http-equiv=content-type
/// content="…charset=…">` count. A meta cut off by the end of `head` is not found (yet).
fn prescan(head: &[u8]) -> Option<&'static Encoding> {
    let head = &head[..head.len().min(PRESCAN_LEN)];
    let mut at = 0;
    while let Some(lt) = memchr::memchr(b'<', &head[at..]) {
        at += lt;
        let rest = &head[at..];
        if rest.starts_with(b"<!--") {
            at += memchr::memmem::find(&rest[4..], b"-->")? + 7;
            continue;
        }
        if rest.len() > 6 && rest[..5].eq_ignore_ascii_case(b"<meta") && is_attr_gap(rest[5]) {
            let (attrs, len) = attributes(&rest[5..])?;
            if let Some(encoding) = meta_encoding(&attrs) {
                return Some(encoding);
            }
            at += 5 + len;
            continue;
        }
        at += 1;
    }
    None
}

fn is_attr_gap(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/'
}

/// Attributes of a tag until `>`, and how many bytes they took. `None` when the tag is cut off.
fn attributes(bytes: &[u8]) -> Option<(Vec<(String, String)>, usize)> {
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_attr_gap(bytes[i]) {
            i += 1;
        }
        if *bytes.get(i)? == b'>' {
            return Some((attrs, i + 1));
        }
        let name_start = i;
        while i < bytes.len() && !is_attr_gap(bytes[i]) && bytes[i] != b'=' && bytes[i] != b'>' {
            i += 1;
        }
        let name = String::from_utf8_lossy(&bytes[name_start..i]).to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let quote = *bytes.get(i)?;
            let value_bytes = if quote == b'"' || quote == b'\'' {
                let len = memchr::memchr(quote, &bytes[i + 1..])?;
                let v = &bytes[i + 1..i + 1 + len];
                i += len + 2;
                v
            } else {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &bytes[start..i]
            };
            value = String::from_utf8_lossy(value_bytes).into_owned();
        }
        if i >= bytes.len() {
            return None;
        }
        attrs.push((name, value));
    }
}

fn meta_encoding(attrs: &[(String, String)]) -> Option<&'static Encoding> {
    let get = |name: &str| attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let label = match get("charset") {
        Some(label) => label.to_owned(),
        None => {
            let is_content_type =
                get("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("content-type"));
            if !is_content_type {
                return None;
            }
            charset_from_content(get("content")?)?
        }
    };
    let encoding = Encoding::for_label(label.trim().as_bytes())?;
    // A meta cannot switch to UTF-16: the bytes it was read from are ASCII-compatible (HTML spec).
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        return Some(encoding_rs::UTF_8);
    }
    if encoding == encoding_rs::X_USER_DEFINED {
        return Some(encoding_rs::WINDOWS_1252);
    }
    Some(encoding)
}

/// `text/html; charset=shift_jis` → `shift_jis`.
fn charset_from_content(content: &str) -> Option<String> {
    let lower = content.to_ascii_lowercase();
    let at = lower.find("charset")?;
    let rest = lower[at + 7..].trim_start().strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end =
        rest.find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(charset: Option<Charset>) -> &'static str {
        match charset {
            Some(Charset::Rewrite(e)) => <&Encoding>::from(e).name(),
            Some(Charset::Unsupported) => "unsupported",
            None => "undecided",
        }
    }

    #[test]
    fn bom_beats_header_and_meta() {
        assert_eq!(name(sniff(Some("windows-1252"), b"\xEF\xBB\xBF<p>", true)), "UTF-8");
        assert_eq!(name(sniff(None, b"\xFF\xFE<\0p\0", true)), "unsupported");
    }

    #[test]
    fn header_beats_meta() {
        let page = b"<meta charset=shift_jis><p>x</p>";
        assert_eq!(name(sniff(Some("windows-1252"), page, true)), "windows-1252");
        assert_eq!(name(sniff(None, page, true)), "Shift_JIS");
        assert_eq!(name(sniff(Some(" ISO-2022-JP"), page, true)), "unsupported");
    }

    #[test]
    fn prescan_reads_meta_forms_and_skips_comments() {
        let http_equiv =
            b"<html><head><meta http-equiv='Content-Type' content='text/html; charset=windows-1252'>";
        assert_eq!(name(sniff(None, http_equiv, true)), "windows-1252");
        let commented = b"<!-- <meta charset=shift_jis> --><meta charset=\"utf-16\">";
        assert_eq!(name(sniff(None, commented, true)), "UTF-8");
        let late = [b"<p>".repeat(400).as_slice(), b"<meta charset=shift_jis>"].concat();
        assert_eq!(name(sniff(None, &late, true)), "UTF-8");
    }

    #[test]
    fn waits_for_a_cut_meta() {
        assert_eq!(name(sniff(None, b"<meta charset=\"shif", false)), "undecided");
        assert_eq!(name(sniff(None, b"<meta charset=\"shift_jis\">", false)), "Shift_JIS");
        assert_eq!(name(sniff(None, b"<p>no meta", true)), "UTF-8");
    }
}
