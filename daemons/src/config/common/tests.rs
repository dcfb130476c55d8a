use super::log_level;

#[test]
fn verbosity_maps_to_levels() {
    assert_eq!(log_level(0), tracing::Level::INFO);
    assert_eq!(log_level(3), tracing::Level::DEBUG);
    assert_eq!(log_level(7), tracing::Level::TRACE);
}
