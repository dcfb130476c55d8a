use std::io::Write;

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ExporterArgs,
}

fn load(flags: &[&str]) -> Result<ExporterConfig, ConfigError> {
    let mut argv = vec!["exporter"];
    argv.extend_from_slice(flags);
    ExporterConfig::load(Cli::try_parse_from(argv).unwrap().args)
}

#[test]
fn defaults_are_the_docs() {
    let config = load(&["--access-token", "t"]).unwrap();
    assert_eq!(config.listener, "0.0.0.0:2963".parse().unwrap());
    assert_eq!(config.rest, "0.0.0.0:2964".parse().unwrap());
    assert_eq!(config.log_dir, PathBuf::from("/var/run/lastbackend/logs"));
    assert_eq!(config.interface, "eth0");
    assert_eq!(
        (config.rotate_bytes, config.retention),
        (DEFAULT_ROTATE_BYTES, DEFAULT_RETENTION)
    );
    assert!(config.tls.is_none() && config.api_uri.is_none());
}

#[test]
fn the_file_has_the_docs_keys_and_flags_win() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        b"verbose: 3\ntoken: file-token\nserver:\n  host: 127.0.0.1\n  port: 3001\nlogger:\n  workdir: /tmp/lb\n  host: 127.0.0.2\n  port: 3000\n  rotate_size: 1mib\n  retention: 2\napi:\n  uri: http://10.0.0.1:2967\nnetwork:\n  interface: lo\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let config = load(&["-c", path]).unwrap();
    assert_eq!(config.token.as_deref(), Some("file-token"));
    assert_eq!(config.listener, "127.0.0.2:3000".parse().unwrap());
    assert_eq!(config.rest, "127.0.0.1:3001".parse().unwrap());
    assert_eq!(config.log_dir, PathBuf::from("/tmp/lb/logs"));
    assert_eq!((config.rotate_bytes, config.retention), (1 << 20, 2));
    assert_eq!(config.api_uri.as_deref(), Some("http://10.0.0.1:2967"));
    assert_eq!((config.interface.as_str(), config.verbose), ("lo", 3));

    let config = load(&[
        "-c",
        path,
        "--bind-listener-port",
        "4000",
        "--log-rotate-size",
        "65536",
        "--log-retention",
        "0",
    ])
    .unwrap();
    assert_eq!(config.listener.port(), 4000);
    assert_eq!((config.rotate_bytes, config.retention), (65536, 0));
}

#[test]
fn bad_values_name_their_setting() {
    let err = load(&[]).unwrap_err();
    assert!(err.to_string().starts_with("--access-token"), "{err}");
    let err = load(&["--access-token", "t", "--log-rotate-size", "1kib"]).unwrap_err();
    assert!(err.to_string().starts_with("--log-rotate-size"), "{err}");
    let err = load(&["--access-token", "t", "--log-rotate-size", "lots"]).unwrap_err();
    assert!(err.to_string().starts_with("--log-rotate-size"), "{err}");
    // HTTPS to the API is fine (the client speaks TLS); a path without
    // a scheme is no endpoint.
    let config = load(&["--access-token", "t", "--api-uri", "https://x:2967"]).unwrap();
    assert_eq!(config.api_uri.as_deref(), Some("https://x:2967"));
    let err = load(&["--access-token", "t", "--api-uri", "api.local/lb"]).unwrap_err();
    assert!(err.to_string().starts_with("--api-uri"), "{err}");
    let err = load(&["--access-token", "t", "--api-tls-cert-file", "c"]).unwrap_err();
    assert!(err.to_string().starts_with("--api-tls-cert-file"), "{err}");
    let err = load(&["--access-token", "t", "--tls-private-key-file", "k"]).unwrap_err();
    assert!(err.to_string().starts_with("--tls-cert-file"), "{err}");
    // The shared `server` section: the API's body limit is no exporter key.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"token: t\nserver:\n  body_limit: 1024\n")
        .unwrap();
    let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("server.body_limit"), "{err}");
}
