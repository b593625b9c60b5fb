//! Trusting strainer's CA: the certificate downloads (`/ca.pem`, `/ca.der` on `http://strainer.internal/`) and the
//! install steps shown on the local page, per browser and operating system.
//!
//! Knows the CA's public certificate only; the local page ([`super::local`]) decides where the section goes.

use http::header::{HeaderValue, CONTENT_DISPOSITION};
use http::Response;

use super::respond;
use super::ProxyBody;
use crate::tls::ca::CertificateAuthority;

/// `/ca.pem`: the certificate as PEM text, offered as a download named `strainer-ca.pem`.
pub fn ca_pem(ca: &CertificateAuthority) -> Response<ProxyBody> {
    let mut response = respond::ok("application/x-pem-file", ca.cert_pem().to_owned());
    response
        .headers_mut()
        .insert(CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"strainer-ca.pem\""));
    response
}

/// `/ca.der`: the certificate as DER, with the content type that makes Firefox offer to trust it.
pub fn ca_der(ca: &CertificateAuthority) -> Response<ProxyBody> {
    respond::ok("application/x-x509-ca-cert", ca.cert_der().to_vec())
}

/// The "Trust strainer's certificate" section of the local page (HTML).
pub fn ca_section(ca: &CertificateAuthority, pac_url: &str) -> String {
    format!(
        "<h2>Trust strainer's certificate (for HTTPS)</h2>\
         <p>strainer reads HTTPS pages with a certificate authority of its own, created on this machine. Install it \
         once per browser or system: <a href=\"/ca.pem\">strainer-ca.pem</a> (PEM) or \
         <a href=\"/ca.der\">strainer-ca.der</a> (DER). Before trusting it, compare its SHA-256 fingerprint with the \
         output of <code>strainer ca fingerprint</code>:</p><p><code>{fingerprint}</code></p>\
         <p>Its private key never leaves <code>certs/</code>; remove the certificate from your browser when you stop \
         using strainer.</p>\
         <dl>\
         <dt>Firefox</dt><dd>Open <a href=\"/ca.der\">strainer-ca.der</a>, tick \"Trust this CA to identify \
         websites\", OK. Or Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → \
         Import. (Firefox keeps its own store, on every OS.)</dd>\
         <dt>Chrome / Chromium</dt><dd>Windows and macOS: use the system store (below). Linux: Settings → Privacy \
         and security → Security → Manage certificates → Authorities (or Local certificates → Custom) → Import \
         <code>strainer-ca.pem</code>, trust it for websites.</dd>\
         <dt>macOS</dt><dd><code>sudo security add-trusted-cert -d -r trustRoot -k \
         /Library/Keychains/System.keychain strainer-ca.pem</code>, or open it in Keychain Access, then set \
         \"When using this certificate\" to Always Trust.</dd>\
         <dt>Windows</dt><dd><code>certutil -addstore -user Root strainer-ca.der</code>, or double-click the file → \
         Install Certificate → Current User → Trusted Root Certification Authorities.</dd>\
         <dt>Linux, NSS (Chromium and other NSS programs)</dt><dd><code>certutil -d sql:$HOME/.pki/nssdb -A -t \
         \"C,,\" -n strainer -i strainer-ca.pem</code> (package <code>libnss3-tools</code>).</dd>\
         <dt>Linux, system store (curl, most command-line tools)</dt><dd>Debian/Ubuntu: <code>sudo cp \
         strainer-ca.pem /usr/local/share/ca-certificates/strainer-ca.crt &amp;&amp; sudo \
         update-ca-certificates</code>. Fedora/Arch: <code>sudo trust anchor strainer-ca.pem</code>.</dd>\
         </dl>\
         <p>Then set the browser's proxy for HTTP and HTTPS to this proxy, or its automatic configuration URL to \
         <code>{pac}</code>.</p>\n",
        fingerprint = html_escape::encode_text(ca.fingerprint()),
        pac = html_escape::encode_text(pac_url),
    )
}
