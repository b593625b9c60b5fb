//! Serde mirror of the rule files (TOML). No logic: shapes only, unknown fields rejected.
