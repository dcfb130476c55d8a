//! Argument parsing: every command of the docs parses as written there.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use lastbackend_core::manifest::RouteTlsManifest;

use super::data::{ConfigCommand, SecretCommand};
use super::namespace::NamespaceCommand;
use super::resources::{ClusterCommand, NodeCommand, RouteCommand, VolumeCommand};
use super::service::ServiceCommand;
use super::*;

fn parse(line: &str) -> Cli {
    Cli::try_parse_from(line.split_whitespace()).unwrap_or_else(|err| panic!("{line}: {err}"))
}

fn fails(line: &str) -> clap::Error {
    Cli::try_parse_from(line.split_whitespace()).expect_err(line)
}

#[test]
fn the_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn namespace_commands_parse() {
    assert!(matches!(
        parse("lb namespace ls").command,
        Command::Namespace(NamespaceCommand::Ls)
    ));
    let Command::Namespace(NamespaceCommand::Create { name, description }) =
        parse("lb ns create test --desc staging").command
    else {
        panic!()
    };
    assert_eq!(
        (name.as_str(), description.as_deref()),
        ("test", Some("staging"))
    );
    let Command::Namespace(NamespaceCommand::Apply {
        namespace,
        files,
        dry_run,
        redeploy,
        wait,
    }) = parse("lb namespace apply demo -f a.yaml -f b.yaml --redeploy --wait --timeout 90s")
        .command
    else {
        panic!()
    };
    assert_eq!(namespace, "demo");
    assert_eq!(
        files.files,
        ["a.yaml", "b.yaml"].map(std::path::PathBuf::from)
    );
    assert!(!dry_run && redeploy && wait.wait);
    assert_eq!(wait.timeout, Duration::from_secs(90));
    assert!(matches!(
        parse("lb namespace remove demo").command,
        Command::Namespace(NamespaceCommand::Remove { .. })
    ));
    fails("lb namespace apply demo");
    fails("lb namespace apply demo -f a.yaml --timeout 5m");
}

#[test]
fn service_commands_parse() {
    let Command::Service(ServiceCommand::Logs { follow, tail, .. }) =
        parse("lb service logs demo 2048 -f --tail 100").command
    else {
        panic!()
    };
    assert!(follow);
    assert_eq!(tail, Some(100));
    let Command::Service(ServiceCommand::Scale { replicas, wait, .. }) =
        parse("lb service scale demo 2048 3 --wait").command
    else {
        panic!()
    };
    assert_eq!(replicas, 3);
    assert!(wait.wait);
    assert_eq!(wait.timeout, Duration::from_secs(300));
    assert!(matches!(
        parse("lb service inspect demo 2048").command,
        Command::Service(ServiceCommand::Inspect { .. })
    ));
    assert!(matches!(
        parse("lb service update demo 2048 -f svc.yaml --redeploy").command,
        Command::Service(ServiceCommand::Update { redeploy: true, .. })
    ));
    fails("lb service scale demo 2048 many");
}

#[test]
fn secrets_take_one_kind_of_data() {
    let Command::Secret(SecretCommand::Create { data, .. }) =
        parse("lb secret create demo registry -a -u admin -p hunter2").command
    else {
        panic!()
    };
    assert!(data.auth);
    assert_eq!(data.username.as_deref(), Some("admin"));
    let Command::Secret(SecretCommand::Update { data, .. }) =
        parse("lb secret update demo tokens -t a=1 -t b=x=y").command
    else {
        panic!()
    };
    assert_eq!(
        data.text,
        [("a".into(), "1".into()), ("b".into(), "x=y".into())]
    );
    assert!(matches!(
        parse("lb secret create demo keys -f id_rsa -f id_rsa.pub").command,
        Command::Secret(SecretCommand::Create { .. })
    ));
    fails("lb secret create demo mixed -t a=1 -f file");
    fails("lb secret create demo half -a -u admin");
    fails("lb secret create demo none");
    fails("lb secret create demo bad -t novalue");
}

#[test]
fn configs_take_text_or_files() {
    assert!(matches!(
        parse("lb config create demo app -t LOG=debug").command,
        Command::Config(ConfigCommand::Create { .. })
    ));
    assert!(matches!(
        parse("lb config update demo app -f config.yml -f other.yml").command,
        Command::Config(ConfigCommand::Update { .. })
    ));
    fails("lb config create demo app -a");
}

#[test]
fn routes_parse_as_in_the_docs() {
    let Command::Route(RouteCommand::Create { route, name, .. }) =
        parse("lb route create demo test -p 443 2048:80 api:8080/v1").command
    else {
        panic!()
    };
    assert_eq!(name, "test");
    assert_eq!(route.port, 443);
    let rules: Vec<_> = route
        .rules
        .iter()
        .map(|r| (r.service.as_str(), r.port, r.path.as_str()))
        .collect();
    assert_eq!(rules, [("2048", Some(80), "/"), ("api", Some(8080), "/v1")]);
    assert!(matches!(
        parse("lb route update demo test -p 80 tank:80").command,
        Command::Route(RouteCommand::Update { .. })
    ));
    fails("lb route create demo test -p 80");
    fails("lb route create demo test 2048");
}

#[test]
fn route_tls_and_tcp_flags() {
    let manifest = |line: &str| match parse(line).command {
        Command::Route(RouteCommand::Create { route, name, .. })
        | Command::Route(RouteCommand::Update { route, name, .. }) => route.manifest(&name),
        _ => panic!("{line}"),
    };
    let plain = manifest("lb route create demo www 2048:80");
    assert_eq!((plain.spec.tls, plain.spec.tcp), (None, false));
    let www = manifest("lb route create demo www -p 443 --tls-secret www-tls 2048:80");
    assert_eq!(
        www.spec.tls,
        Some(RouteTlsManifest {
            secret: Some("www-tls".into()),
            passthrough: false,
        })
    );
    let www = manifest("lb route update demo www --tls-passthrough 2048:443");
    assert_eq!(
        www.spec.tls.map(|t| (t.secret, t.passthrough)),
        Some((None, true))
    );
    let db = manifest("lb route create demo db -p 5432 --tcp postgres:5432");
    assert_eq!((db.spec.tls, db.spec.tcp), (None, true));
    for line in [
        "lb route create demo www --tls-secret s --tls-passthrough 2048:80",
        "lb route create demo www --tls-secret s --tcp 2048:80",
        "lb route update demo www --tls-passthrough --tcp 2048:80",
    ] {
        assert_eq!(
            fails(line).kind(),
            clap::error::ErrorKind::ArgumentConflict,
            "{line}"
        );
    }
    for line in ["lb route create --help", "lb route update --help"] {
        let help = fails(line).to_string();
        for flag in [
            "--tls-secret <SECRET>",
            "--tls-passthrough",
            "--tcp",
            "--port",
            "--domain",
        ] {
            assert!(help.contains(flag), "{flag} missing from:\n{help}");
        }
    }
}

#[test]
fn the_rest_parse() {
    assert!(matches!(
        parse("lb volume create demo data --capacity 1GB").command,
        Command::Volume(VolumeCommand::Create { .. })
    ));
    assert!(matches!(
        parse("lb node ls").command,
        Command::Node(NodeCommand::Ls)
    ));
    assert!(matches!(
        parse("lb node inspect n1").command,
        Command::Node(NodeCommand::Inspect { .. })
    ));
    assert!(matches!(
        parse("lb cluster inspect").command,
        Command::Cluster(ClusterCommand::Inspect)
    ));
}

#[test]
fn global_flags_go_anywhere() {
    let cli = parse("lb namespace ls -o yaml --api-uri 10.0.0.1:2967 --token t");
    assert_eq!(cli.output, Output::Yaml);
    assert_eq!(cli.connection.api_uri.as_deref(), Some("10.0.0.1:2967"));
    let cli = parse("lb -o json --api-tls-ca-file ca.pem cluster inspect");
    assert_eq!(cli.output, Output::Json);
    assert_eq!(cli.connection.ca_file, Some("ca.pem".into()));
    fails("lb -o xml namespace ls");
}

#[test]
fn help_covers_every_command() {
    for line in [
        "lb --help",
        "lb namespace --help",
        "lb namespace apply --help",
        "lb service logs --help",
        "lb secret create --help",
        "lb route create --help",
    ] {
        let err = fails(line);
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{line}");
    }
    let help = fails("lb namespace apply --help").to_string();
    for flag in ["--file", "--dry-run", "--redeploy", "--wait", "--timeout"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn durations_take_a_unit() {
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    assert!(parse_duration("5d").is_err());
    assert!(parse_duration("m").is_err());
}
