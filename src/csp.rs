//! The one reading of a Content-Security-Policy: does it let an inline `<style>` element apply? Used for the
//! policy in response headers (the proxy) and in `<meta http-equiv>` (the engine), so both decide alike.
//!
//! Decisions (CSP Level 3):
//! - A text may hold several policies joined by `,` (repeated headers combine so); the style applies only if every
//!   one of them lets it.
//! - In a policy, directives are separated by `;`; names compare case-insensitively and only the first directive
//!   of a name counts (browsers ignore repeats).
//! - The governing directive is `style-src-elem`, else `style-src`, else `default-src`; none of them → allowed.
//! - Allowed only when its sources list `'unsafe-inline'` and no nonce or hash source (`'nonce-…'`,
//!   `'sha256-…'`, `'sha384-…'`, `'sha512-…'`), which make browsers ignore `'unsafe-inline'`.

/// The directives that govern inline `<style>` elements, strongest first.
const STYLE_DIRECTIVES: [&str; 3] = ["style-src-elem", "style-src", "default-src"];

/// Does the policy text `policies` (one header value or `<meta>` content; `,`-separated policies) let an inline
/// `<style>` element apply?
pub fn allows_inline_style(policies: &str) -> bool {
    policies.split(',').all(policy_allows_inline_style)
}

/// [`allows_inline_style`] for one policy.
fn policy_allows_inline_style(policy: &str) -> bool {
    let directive = |wanted: &str| {
        policy.split(';').find_map(|directive| {
            let mut words = directive.split_ascii_whitespace();
            words.next().filter(|name| name.eq_ignore_ascii_case(wanted)).map(|_| words)
        })
    };
    let Some(sources) = STYLE_DIRECTIVES.iter().find_map(|name| directive(name)) else {
        return true;
    };
    let mut unsafe_inline = false;
    for source in sources {
        let source = source.to_ascii_lowercase();
        if ["'nonce-", "'sha256-", "'sha384-", "'sha512-"].iter().any(|prefix| source.starts_with(prefix)) {
            return false;
        }
        unsafe_inline |= source == "'unsafe-inline'";
    }
    unsafe_inline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_without_a_style_directive_allow_inline_styles() {
        assert!(allows_inline_style(""));
        assert!(allows_inline_style("script-src 'self'"));
        assert!(allows_inline_style("img-src *; script-src 'none'"));
    }

    #[test]
    fn the_strongest_style_directive_governs() {
        assert!(!allows_inline_style("default-src 'self'"));
        assert!(allows_inline_style("default-src 'self'; style-src 'self' 'unsafe-inline'"));
        assert!(!allows_inline_style("default-src *; style-src-elem 'self'"));
        assert!(!allows_inline_style("style-src 'unsafe-inline'; style-src-elem 'self'"));
        assert!(allows_inline_style("style-src 'self'; style-src-elem 'unsafe-inline'"));
        assert!(!allows_inline_style("style-src"), "no sources: nothing is allowed");
    }

    #[test]
    fn a_nonce_or_hash_disables_unsafe_inline() {
        assert!(!allows_inline_style("style-src 'unsafe-inline' 'nonce-abc'"));
        assert!(!allows_inline_style("style-src 'unsafe-inline' 'sha256-abc='"));
        assert!(!allows_inline_style("style-src 'unsafe-inline' 'SHA512-abc='"));
        assert!(allows_inline_style("style-src 'unsafe-inline' 'shadow-ish'"), "not a hash source");
    }

    #[test]
    fn names_and_keywords_ignore_case_and_only_the_first_directive_counts() {
        assert!(!allows_inline_style("DEFAULT-SRC 'SELF'"));
        assert!(allows_inline_style("STYLE-SRC 'UNSAFE-INLINE'"));
        assert!(allows_inline_style("style-src 'unsafe-inline'; style-src 'none'"));
    }

    #[test]
    fn every_policy_of_a_combined_text_must_allow() {
        assert!(!allows_inline_style("style-src 'unsafe-inline', default-src 'self'"));
        assert!(allows_inline_style("style-src 'unsafe-inline', script-src 'self'"));
    }
}
