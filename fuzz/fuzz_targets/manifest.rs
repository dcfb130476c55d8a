//! The manifest parser never panics, and whatever it accepts survives a round
//! trip through YAML and JSON unchanged.
#![no_main]

use lastbackend_core::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifests) = manifest::parse(text) else {
        return;
    };
    for (encoded, format) in [
        (yaml_serde::to_string(&manifests).ok(), "YAML"),
        (serde_json::to_string(&manifests).ok(), "JSON"),
    ] {
        let encoded = encoded.unwrap_or_else(|| panic!("accepted manifests must encode as {format}"));
        let back = manifest::parse(&encoded)
            .unwrap_or_else(|e| panic!("{format} of accepted manifests must parse: {e}\n{encoded}"));
        assert_eq!(back, manifests, "{format} round trip changed the manifests");
    }
});
