//! Check manifest files the way the API will, without a cluster.
//!
//! Run: `cargo run -p examples --example manifest_check -- lastbackend-core/tests/fixtures/manifests/*.yaml`
//!
//! Every problem of every document is printed with its field path; the exit
//! code is non-zero when any file has one.

use std::process::ExitCode;

use lastbackend_core::manifest;

fn main() -> ExitCode {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
                continue;
            }
        };
        match manifest::parse(&text) {
            Ok(manifests) => {
                for m in manifests {
                    println!("{path}: {} {} ok", m.kind(), m.name());
                }
            }
            Err(errors) => {
                failed = true;
                for error in errors.errors {
                    eprintln!("{path}: {error}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
