//! What a real-system test does when what it needs is missing: outside CI it
//! skips, printing why; under `CI=true` it fails, because CI must run the
//! real thing and a green run that skipped it would claim what it never
//! tested.
#![allow(dead_code, unreachable_pub)]

/// Whether the caller demands the real thing (`CI=true`, as `.ci/run`
/// exports it).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// Says that `what` is skipped and why, or panics with it under `CI=true`.
/// The caller returns right after.
#[track_caller]
pub fn skip(what: &str, why: impl std::fmt::Display) {
    assert!(!ci(), "CI=true, but {what} cannot run: {why}");
    println!("skipped: {what} cannot run here: {why}");
}
