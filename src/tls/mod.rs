//! TLS: the local CA in `certs/`, leaf certificates minted per host, and upstream TLS settings.

pub mod accept;
pub mod ca;
pub mod ca_files;
pub mod leaf;
pub mod upstream;
