//! Page-level behaviour: charsets, byte-order marks, style injection and CSP, memory bail-out, bad UTF-8.

mod support {
    pub mod rules_builder;
}

use strainer::rules::Conditions;
use support::rules_builder::*;

fn deal_rules() -> std::sync::Arc<strainer::rules::RuleSet> {
    set(vec![
        remove_when("deal", "p", text(vec![starts_with(&["Deal:"])])),
        tag_when("rel", "p", &["verwandt-ä"], text(vec![starts_with(&["Related:"])])),
    ])
}

fn encode(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "test text is encodable");
    bytes.into_owned()
}

#[test]
fn windows_1252_page_comes_out_byte_correct() {
    let page = "<meta charset=windows-1252><p>Deal: café – “x”</p><p>Related: naïve</p><p>Ünïcode ok</p>";
    let input = encode(encoding_rs::WINDOWS_1252, page);
    let (out, report) = rewrite(&deal_rules(), &options(), &input);
    let expected =
        "<meta charset=windows-1252><p data-strainer-tag=\"verwandt-ä\">Related: naïve</p><p>Ünïcode ok</p>";
    assert_eq!(out, encode(encoding_rs::WINDOWS_1252, expected));
    assert_eq!((report.removed, report.tagged), (1, 1));
}

#[test]
fn shift_jis_page_comes_out_byte_correct() {
    let page =
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"></head>\
                <p>Deal: 日本語のテキスト</p><p>表示される文章</p>";
    let input = encode(encoding_rs::SHIFT_JIS, page);
    for size in [1, 7, 64, input.len()] {
        let out = rewrite_in_chunks(&deal_rules(), &options(), &input, size);
        let expected = page.replace("<p>Deal: 日本語のテキスト</p>", "");
        assert_eq!(out, encode(encoding_rs::SHIFT_JIS, &expected), "chunk size {size}");
    }
}

#[test]
fn header_charset_beats_meta() {
    // The bytes are windows-1252; the meta lies (Shift_JIS would pair 0x93 with the next byte).
    let page = "<meta charset=shift_jis><p>Deal: “a”</p><p>“kept”</p>";
    let input = encode(encoding_rs::WINDOWS_1252, page);
    let mut header = options();
    header.header_charset = Some("windows-1252".into());
    let (out, _) = rewrite(&deal_rules(), &header, &input);
    assert_eq!(out, encode(encoding_rs::WINDOWS_1252, "<meta charset=shift_jis><p>“kept”</p>"));
}

#[test]
fn utf8_bom_is_kept_and_utf16_passes_through() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice("<p>Deal: x</p><p>ü</p>".as_bytes());
    let (out, _) = rewrite(&deal_rules(), &options(), &input);
    assert_eq!(out, [b"\xEF\xBB\xBF".as_slice(), "<p>ü</p>".as_bytes()].concat());
    let utf16: Vec<u8> = b"\xFF\xFE"
        .iter()
        .copied()
        .chain("<p>Deal: x</p>".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (out, report) = rewrite(&deal_rules(), &options(), &utf16);
    assert_eq!(out, utf16);
    assert_eq!(report.removed, 0);
}

#[test]
fn mislabelled_page_is_not_corrupted() {
    // Declared (by default) UTF-8 but really windows-1252: the bytes after the first bad byte pass through raw.
    let input = [b"<p>Deal: a</p><p>caf".as_slice(), b"\xe9 au lait</p><p>Deal: b</p>".as_slice()].concat();
    for size in [1, 3, input.len()] {
        let out = rewrite_in_chunks(&deal_rules(), &options(), &input, size);
        assert_eq!(
            out,
            [b"<p>caf".as_slice(), b"\xe9 au lait</p><p>Deal: b</p>".as_slice()].concat(),
            "size {size}"
        );
    }
    let (_, report) = rewrite(&deal_rules(), &options(), &input);
    assert!(report.undecodable && !report.bailed_out, "{report:?}");
}

#[test]
fn unsupported_header_charset_passes_through() {
    let mut iso = options();
    iso.header_charset = Some("iso-2022-jp".into());
    let input = b"<p>Deal: x</p>";
    assert_eq!(rewrite(&deal_rules(), &iso, input).0, input);
}

fn styled_rules() -> std::sync::Arc<strainer::rules::RuleSet> {
    set_with_styles(
        vec![tag_when("rel", "p", &["related"], text(vec![starts_with(&["Related:"])]))],
        &[("related", "[data-strainer-tag~=related]{opacity:.8}"), ("unused", "b{}")],
    )
}

#[test]
fn styles_of_produced_tags_are_injected_before_head_end() {
    let out = rewrite_str(&styled_rules(), "<html><head><title>t</title></head><body><p>x</p></body></html>");
    assert_eq!(
        out,
        "<html><head><title>t</title><style data-strainer>\n[data-strainer-tag~=related]{opacity:.8}\n</style></head>\
         <body><p>x</p></body></html>"
    );
}

#[test]
fn without_a_head_end_tag_styles_go_before_body_once() {
    let style = "<style data-strainer>\n[data-strainer-tag~=related]{opacity:.8}\n</style>";
    let out = rewrite_str(&styled_rules(), "<!doctype html><title>t</title><body><p>x</p><body></body>");
    assert_eq!(out, format!("<!doctype html><title>t</title>{style}<body><p>x</p><body></body>"));
    let out = rewrite_str(&styled_rules(), "<head><title>t</title></head><body><p>x</p>");
    assert_eq!(out, format!("<head><title>t</title>{style}</head><body><p>x</p>"));
}

#[test]
fn csp_meta_without_unsafe_inline_suppresses_styles() {
    let page = "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\"></head></html>";
    assert_eq!(rewrite_str(&styled_rules(), page), page);
    let nonce = "<head><meta http-equiv=content-security-policy content=\"style-src 'unsafe-inline' 'nonce-r4nd'\"></head>";
    assert_eq!(rewrite_str(&styled_rules(), nonce), nonce);
    let allowed =
        "<head><meta http-equiv=\"Content-Security-Policy\" content=\"style-src 'unsafe-inline'\"></head>";
    assert!(rewrite_str(&styled_rules(), allowed).contains("<style data-strainer>"));
    let mut off = options();
    off.inject_styles = false;
    let plain = b"<head></head>";
    assert_eq!(rewrite(&styled_rules(), &off, plain).0, plain);
}

#[test]
fn memory_limit_bails_out_and_passes_the_rest_through() {
    let rules = set(vec![
        remove_when("deal", "p", text(vec![starts_with(&["Deal:"])])),
        remove_when("big", "div", Conditions { min_text_len: Some(1), ..Conditions::default() }),
    ]);
    let mut small = options();
    small.memory_limit = 64 * 1024;
    let huge = "x".repeat(256 * 1024);
    let page = format!("<p>Deal: gone</p><div title=\"{huge}\">kept</div><p>Deal: after</p>");
    // lol_html buffers a tag only when it spans input chunks, as it does when a body streams in.
    for size in [1000, 4096] {
        let (out, report) = rewrite_at(
            &rules,
            &small,
            page.as_bytes(),
            &(size..page.len()).step_by(size).collect::<Vec<_>>(),
        );
        assert!(report.bailed_out, "size {size}");
        let expected = format!("<div title=\"{huge}\">kept</div><p>Deal: after</p>");
        assert_eq!(String::from_utf8(out).expect("utf-8"), expected, "size {size}");
    }
}

#[test]
fn utf8_page_labelled_gbk_is_not_corrupted() {
    let tail = "<p>谷歌在2014年收购的人工智能公司DeepMind开发出一款计算机。</p><p>【未经授权，不得转载】</p>";
    let page = format!("<meta charset=gb2312><div><p>Deal: x</p>{tail}</div>");
    for size in [1, 5, page.len()] {
        let out = rewrite_in_chunks(&deal_rules(), &options(), page.as_bytes(), size);
        let text = String::from_utf8(out).expect("UTF-8 bytes stay UTF-8");
        assert!(text.contains(tail), "size {size}: {text}");
        assert!(!text.contains('\u{FFFD}') && !text.contains("&#65533;"), "size {size}: {text}");
    }
}
