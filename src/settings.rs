//! The one list of settings-file keys: each key's name, default and documentation, defined once.
//!
//! Everything else follows from [`SETTINGS`] or is checked against it by tests: the shipped
//! `strainer.example.toml` and the README's settings block are [`example_toml`] byte for byte
//! (`strainer settings` prints it), the parser ([`crate::config`]) accepts exactly these keys, parsing the
//! example gives the same [`crate::config::Config`] as an empty file (so the defaults written here are the
//! defaults in force), and `strainer --help` shows the same defaults for the flags that override a key.
//! Validation lives in [`crate::config`]; each check names the key it guards with the name written here.

/// One key of the settings file.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The key; `limits.NAME` keys live in the `[limits]` table.
    pub key: &'static str,
    /// The default as a TOML value, or `None` when the default is computed or means "unset" (then `example`
    /// is shown commented out).
    pub default: Option<&'static str>,
    /// A value to show, commented out, for a key without a written default.
    pub example: &'static str,
    /// What the key does; each string is one comment line.
    pub doc: &'static [&'static str],
}

/// Every key of the settings file, in the order of the example file.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        default: Some("\"127.0.0.1:8080\""),
        example: "",
        doc: &["address of the proxy; a non-loopback address also needs allow_non_loopback = true"],
    },
    Setting {
        key: "allow_non_loopback",
        default: Some("false"),
        example: "",
        doc: &["consent to listen on (or serve metrics on) a non-loopback address"],
    },
    Setting {
        key: "allow_clients",
        default: None,
        example: "[\"192.168.1.0/24\", \"10.0.0.7\"]",
        doc: &["who may connect (addresses or networks); default: loopback, private and link-local networks"],
    },
    Setting {
        key: "proxy_auth",
        default: Some("[]"),
        example: "",
        doc: &["[\"user:password\", …]: require Basic proxy credentials"],
    },
    Setting {
        key: "rules",
        default: Some("\"rules\""),
        example: "",
        doc: &["rules directory; relative paths in this file resolve against the file's folder"],
    },
    Setting { key: "certs", default: Some("\"certs\""), example: "", doc: &["directory of the local CA"] },
    Setting {
        key: "upstream_ca",
        default: Some("[]"),
        example: "",
        doc: &["extra trusted roots for origins (PEM files), added to --upstream-ca"],
    },
    Setting {
        key: "log",
        default: None,
        example: "\"info\"",
        doc: &["log filter, RUST_LOG syntax; default: --log, else $RUST_LOG, else info"],
    },
    Setting { key: "log_format", default: Some("\"pretty\""), example: "", doc: &["or \"json\""] },
    Setting {
        key: "response_encoding",
        default: Some("\"identity\""),
        example: "",
        doc: &["or \"gzip\": how rewritten HTML is sent to the browser"],
    },
    Setting {
        key: "log_query",
        default: Some("false"),
        example: "",
        doc: &["include query strings in the `path` log field"],
    },
    Setting { key: "via", default: Some("false"), example: "", doc: &["add `Via: 1.1 strainer`"] },
    Setting {
        key: "mitm_ports",
        default: Some("[443]"),
        example: "",
        doc: &["CONNECT ports that are decrypted; others are tunnelled blind"],
    },
    Setting {
        key: "rules_watch",
        default: Some("\"auto\""),
        example: "",
        doc: &["file events with a polling fallback, or \"poll\" (NFS, some container mounts)"],
    },
    Setting {
        key: "pac_direct_local",
        default: Some("true"),
        example: "",
        doc: &[
            "PAC file: plain names, .local/.home.arpa, loopback/private/link-local addresses go DIRECT;",
            "false sends every http(s) URL through the proxy",
        ],
    },
    Setting {
        key: "metrics_listen",
        default: None,
        example: "\"127.0.0.1:9100\"",
        doc: &[
            "a second listener serving only /metrics, /healthz and /readyz, without proxy credentials, to",
            "allow_clients (default: none; the proxy listener serves them too)",
        ],
    },
    Setting {
        key: "proxy_protocol_from",
        default: Some("[]"),
        example: "",
        doc: &[
            "load balancers (addresses or networks) whose connections start with a PROXY protocol v2 header;",
            "the client it names is the one logged and checked against allow_clients. A connection from",
            "these addresses without a valid header is closed",
        ],
    },
    Setting {
        key: "resolve",
        default: None,
        example: "{ \"news.test\" = \"127.0.0.1\" }",
        doc: &["fixed addresses instead of DNS (tests, demos); also --resolve HOST=IP"],
    },
    Setting {
        key: "subscriptions",
        default: None,
        example: "[{ name = \"easylist\", url = \"https://easylist.to/easylist/easylist.txt\", refresh_minutes = 1440 }]",
        doc: &[
            "filter lists downloaded into rules/filters/<name>.txt and kept current (ETag / If-Modified-Since);",
            "the last good copy stays when a download fails. Also written as [[subscriptions]] tables;",
            "refresh_minutes defaults to a day",
        ],
    },
    Setting {
        key: "limits.max_header_bytes",
        default: Some("65536"),
        example: "",
        doc: &["request head; larger heads get 431 (at least 8192)"],
    },
    Setting { key: "limits.max_headers", default: Some("100"), example: "", doc: &["request header fields"] },
    Setting {
        key: "limits.header_read_timeout_ms",
        default: Some("30000"),
        example: "",
        doc: &[
            "accept (or end of the previous response) → request head complete; else the connection is",
            "closed unanswered, freeing its slot",
        ],
    },
    Setting { key: "limits.connect_timeout_ms", default: Some("10000"), example: "", doc: &["else 502"] },
    Setting {
        key: "limits.first_byte_timeout_ms",
        default: Some("60000"),
        example: "",
        doc: &["request sent → response head; else 504"],
    },
    Setting {
        key: "limits.idle_timeout_ms",
        default: Some("60000"),
        example: "",
        doc: &["longest pause inside a response body; else the response is cut"],
    },
    Setting {
        key: "limits.tunnel_idle_timeout_ms",
        default: Some("300000"),
        example: "",
        doc: &["tunnels, WebSockets and decrypted HTTPS sessions silent both ways this long are closed"],
    },
    Setting {
        key: "limits.max_connections",
        default: Some("1024"),
        example: "",
        doc: &[
            "further connections wait to be accepted; a connection's tunnels, decrypted HTTPS sessions and",
            "WebSockets hold its slot until they end",
        ],
    },
    Setting {
        key: "limits.hold_cap",
        default: Some("65536"),
        example: "",
        doc: &["bytes held back for undecided elements, per response"],
    },
    Setting {
        key: "limits.rewrite_memory",
        default: Some("8388608"),
        example: "",
        doc: &["lol_html memory limit per response (past it the page passes unchanged)"],
    },
    Setting {
        key: "limits.rewrite_budget",
        default: None,
        example: "1073741824",
        doc: &[
            "memory all rewriters in flight may reserve together; default 1/16 of the machine's memory,",
            "128 MiB..1 GiB (past it new HTML responses pass unfiltered)",
        ],
    },
    Setting {
        key: "limits.drain_delay_ms",
        default: Some("0"),
        example: "",
        doc: &[
            "after SIGTERM, /readyz answers 503 and responses carry `Connection: close` for this long while",
            "the listener still serves, so a load balancer moves new connections away before it closes",
        ],
    },
    Setting {
        key: "limits.shutdown_grace_ms",
        default: Some("10000"),
        example: "",
        doc: &["then in-flight requests may finish for this long (after SIGTERM / Ctrl-C)"],
    },
    Setting {
        key: "limits.tls_handshake_timeout_ms",
        default: Some("10000"),
        example: "",
        doc: &["ClientHello + handshake with the browser on intercepted CONNECTs"],
    },
    Setting {
        key: "limits.leaf_cache_size",
        default: Some("10000"),
        example: "",
        doc: &["leaf certificates kept in memory (one per host)"],
    },
];

/// Where the settings file is looked for when neither `--config` nor `STRAINER_CONFIG` names one.
pub const SYSTEM_CONFIG: &str = "/etc/strainer/strainer.toml";

/// The environment variable naming the settings file when `--config` is absent.
pub const CONFIG_ENV: &str = "STRAINER_CONFIG";

/// The setting named `key`, if there is one.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The example settings file: every key with its default (or a commented-out example) and its documentation.
/// Shipped as `strainer.example.toml` and printed by `strainer settings`.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# strainer settings: every key with its default. Optional: `--config FILE`, else $STRAINER_CONFIG,\n\
         # else /etc/strainer/strainer.toml when present. Flags win; unknown keys are errors.\n",
    );
    let mut in_limits = false;
    for setting in SETTINGS {
        let (table, name) = match setting.key.split_once('.') {
            Some((table, name)) => (Some(table), name),
            None => (None, setting.key),
        };
        if table.is_some() && !in_limits {
            out.push_str("\n[limits]\n");
            in_limits = true;
        }
        out.push('\n');
        for line in setting.doc {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        match setting.default {
            Some(value) => out.push_str(&format!("{name} = {value}\n")),
            None => out.push_str(&format!("# {name} = {}\n", setting.example)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_documented() {
        for (i, setting) in SETTINGS.iter().enumerate() {
            assert!(!setting.doc.is_empty(), "{} has no doc", setting.key);
            assert!(
                SETTINGS[..i].iter().all(|other| other.key != setting.key),
                "{} is listed twice",
                setting.key
            );
            assert!(setting.default.is_some() || !setting.example.is_empty(), "{}", setting.key);
        }
    }

    #[test]
    fn limits_come_last_so_they_form_one_table() {
        let first_limit = SETTINGS.iter().position(|s| s.key.starts_with("limits.")).unwrap_or(0);
        assert!(SETTINGS[first_limit..].iter().all(|s| s.key.starts_with("limits.")));
    }

    #[test]
    fn the_example_is_valid_toml() {
        let text = example_toml();
        assert!(text.parse::<toml::Table>().is_ok(), "{text}");
    }
}
