//! Instances sharing one certs directory: started together on an empty directory, they end with one CA (the
//! creators take turns under the directory's lock and the later ones load what the first wrote), and every
//! instance then presents leaves from that CA.

#![cfg(unix)]

mod tls_support;

use std::path::Path;
use std::process::Stdio;

fn ca(dir: &Path, args: &[&str]) -> std::process::Child {
    tls_support::strainer_ca_command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strainer ca")
}

#[test]
fn instances_started_together_on_an_empty_directory_end_with_one_ca() {
    const INSTANCES: usize = 8;
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        let children: Vec<_> = (0..INSTANCES).map(|_| ca(&certs, &["init"])).collect();
        let outputs: Vec<_> =
            children.into_iter().map(|c| c.wait_with_output().expect("ca init ends")).collect();
        for out in &outputs {
            assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let created =
            outputs.iter().filter(|o| String::from_utf8_lossy(&o.stdout).starts_with("created")).count();
        assert_eq!(created, 1, "round {round}: exactly one instance creates the CA");
        let mut names: Vec<String> = std::fs::read_dir(&certs)
            .expect("list certs")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["strainer-ca.key.pem", "strainer-ca.pem"], "round {round}: nothing else is left");
    }
}
