//! `docs/flags.md` is what the clap definitions render today; with
//! `UPDATE_FLAGS_REFERENCE=1` this test rewrites it instead of checking.

use std::path::Path;

use lastbackend::reference::{REGENERATE, flags_reference};

#[test]
fn docs_flags_md_matches_the_clap_definitions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/flags.md");
    let generated = flags_reference();
    if std::env::var("UPDATE_FLAGS_REFERENCE").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write docs/flags.md");
        return;
    }
    let committed = match std::fs::read_to_string(&path) {
        Ok(committed) if committed == generated => return,
        Ok(committed) => committed,
        Err(e) => panic!("cannot read docs/flags.md ({e}); generate it with `{REGENERATE}`"),
    };
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (old, new))| old != new)
        .map_or_else(
            || "one is a prefix of the other".to_owned(),
            |(i, (old, new))| format!("line {}:\n  committed: {old}\n  generated: {new}", i + 1),
        );
    panic!(
        "docs/flags.md is out of date with the clap definitions ({first_difference}).\n\
         Regenerate it with `{REGENERATE}` and commit the result."
    );
}
