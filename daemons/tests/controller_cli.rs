//! `lastbackend controller` as an operator meets it: the docs' flags are
//! all there, and a bad setting is refused before any connection is made.

use std::process::Command;

fn controller(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lastbackend"))
        .arg("controller")
        .args(args)
        .env_remove("LB_CONFIG")
        .env_remove("LB_SERVICES_CIDR")
        .output()
        .expect("the lastbackend binary runs")
}

#[test]
fn help_lists_every_flag_of_the_docs_controller_table() {
    let out = controller(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--services-cidr",
        "LB_SERVICES_CIDR",
        "--storage",
        "LB_STORAGE",
        "--etcd-cert-file",
        "LB_ETCD_CERT_FILE",
        "--etcd-private-key-file",
        "LB_ETCD_PRIVATE_KEY_FILE",
        "--etcd-ca-file",
        "LB_ETCD_CA_FILE",
        "--etcd-endpoints",
        "LB_ETCD_ENDPOINTS",
        "--etcd-prefix",
        "LB_ETCD_PREFIX",
        "--verbose",
        "LB_VERBOSE",
        "--config",
        "LB_CONFIG",
        "--lease-ttl",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn a_bad_services_cidr_is_refused_before_connecting() {
    // An endpoint nothing listens on: reaching it would hang or fail
    // differently.
    let out = controller(&[
        "--services-cidr",
        "10.0.0.0/40",
        "--etcd-endpoints",
        "127.0.0.1:9",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--services-cidr"), "{stderr}");
}
