//! Creating, running, finding and removing containers.

use std::time::Duration;

use lastbackend_core::model::RestartPolicy;
use lastbackend_runtime::docker::offline;
use lastbackend_runtime::{Bind, ContainerFilter, ContainerState, Cri, LogOptions, NetworkMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::streams::{exec, output};
use super::support::{Scope, cli_inspect, docker, eventually};

const SCRIPT: &str = r#"echo "$0 $GREETING $(pwd)"; cat /data/hello; touch /data/x || echo read-only; echo page > /www/index.html; exec httpd -f -p 8080 -h /www"#;

#[tokio::test]
async fn every_spec_field_reaches_the_engine() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello"), "from the host\n").unwrap();
    let mut spec = scope.spec("fields", SCRIPT);
    spec.entrypoint = vec!["/bin/busybox".into()];
    spec.args = vec!["arg0".into()];
    spec.workdir = Some("/www".into());
    spec.env.insert("GREETING".into(), "hello world".into());
    spec.labels
        .insert("io.lastbackend.pod".into(), "demo:web".into());
    spec.memory = Some(64 << 20);
    spec.cpu_millis = Some(500);
    spec.restart = RestartPolicy::UnlessStopped;
    spec.binds.push(Bind {
        host: data.path().to_owned(),
        container: "/data".into(),
        read_only: true,
    });
    spec.dns = vec!["10.0.0.2".into()];
    spec.dns_search = vec!["lb.local".into()];
    spec.extra_hosts = vec!["db:10.0.0.3".into()];
    spec.ports = vec!["127.0.0.1::8080".parse().unwrap()];

    let id = docker.create(&spec).await.unwrap();
    let err = docker.create(&spec).await.unwrap_err();
    assert!(err.is_exists(), "a taken name: {err}");
    docker.start(&id).await.unwrap();
    docker
        .start(&spec.name)
        .await
        .expect("starting twice is fine");

    let info = docker.inspect(&spec.name).await.unwrap();
    assert_eq!(
        (info.id.as_str(), info.name.as_str()),
        (id.as_str(), spec.name.as_str())
    );
    assert_eq!(info.image, offline::BUSYBOX);
    assert_eq!(info.state, ContainerState::Running);
    assert_eq!(info.labels, spec.labels);
    assert!(
        info.started.is_some() && info.finished.is_none(),
        "{info:?}"
    );
    assert!(
        info.ip.is_some_and(|ip| ip.is_ipv4()),
        "an address on the bridge: {info:?}"
    );

    let logs = eventually("the script's output", || async {
        let text = output(&docker, &id, LogOptions::default()).await;
        text.contains("read-only").then_some(text)
    })
    .await;
    assert!(logs.contains("arg0 hello world /www"), "{logs}");
    assert!(logs.contains("from the host"), "{logs}");
    let resolv = exec(&docker, &id, "cat /etc/resolv.conf").await;
    assert!(
        resolv.contains("nameserver 10.0.0.2") && resolv.contains("search lb.local"),
        "{resolv}"
    );
    let hosts = exec(&docker, &id, "cat /etc/hosts").await;
    assert!(
        hosts.contains("10.0.0.3\tdb") || hosts.contains("10.0.0.3 db"),
        "{hosts}"
    );

    // What the engine itself says, through its own CLI.
    let json = cli_inspect(&id);
    assert_eq!(json["Config"]["Labels"]["io.lastbackend.pod"], "demo:web");
    let env = json["Config"]["Env"].as_array().unwrap();
    assert!(env.iter().any(|e| e == "GREETING=hello world"), "{env:?}");
    assert_eq!(json["Config"]["WorkingDir"], "/www");
    assert_eq!(
        json["Config"]["Entrypoint"],
        serde_json::json!(["/bin/busybox"])
    );
    assert_eq!(
        json["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", SCRIPT, "arg0"])
    );
    assert_eq!(json["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(json["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(
        json["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    let mount = &json["Mounts"][0];
    assert_eq!(mount["Source"], data.path().display().to_string());
    assert_eq!(
        (&mount["Destination"], &mount["RW"]),
        (&"/data".into(), &false.into())
    );

    // The published port leads to the container's httpd.
    let port = &json["NetworkSettings"]["Ports"]["8080/tcp"][0];
    assert_eq!(port["HostIp"], "127.0.0.1");
    let host_port: u16 = port["HostPort"].as_str().unwrap().parse().unwrap();
    let page = eventually("httpd through the published port", || async move {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", host_port))
            .await
            .ok()?;
        stream
            .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
            .await
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        response.contains("200 OK").then_some(response)
    })
    .await;
    assert!(page.ends_with("page\n"), "{page}");
}

#[tokio::test]
async fn a_container_joins_another_ones_network_namespace() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let first = scope.spec(
        "owner",
        "echo inside > /www/index.html; exec httpd -f -p 127.0.0.1:8080 -h /www",
    );
    let owner = docker.create(&first).await.unwrap();
    docker.start(&owner).await.unwrap();
    let mut second = scope.spec("joiner", "exec sleep 300");
    second.network = NetworkMode::Container(owner.clone());
    let joiner = docker.create(&second).await.unwrap();
    docker.start(&joiner).await.unwrap();

    let page = eventually("the owner's httpd on the shared loopback", || async {
        let out = docker
            .exec(
                &joiner,
                &[
                    "wget".into(),
                    "-q".into(),
                    "-O".into(),
                    "-".into(),
                    "http://127.0.0.1:8080/".into(),
                ],
            )
            .await
            .unwrap();
        (out.exit_code == 0).then_some(out.output)
    })
    .await;
    assert_eq!(page.as_ref(), b"inside\n");
    let info = docker.inspect(&joiner).await.unwrap();
    assert_eq!(info.ip, None, "it has no address of its own");
    assert!(docker.inspect(&owner).await.unwrap().ip.is_some());
}

#[tokio::test]
async fn list_filters_by_labels_and_state() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let mut running = scope.spec("running", "exec sleep 300");
    running.labels.insert("role".into(), "a".into());
    let mut created = scope.spec("created", "exec sleep 300");
    created.labels.insert("role".into(), "a".into());
    let mut other = scope.spec("other", "exec sleep 300");
    other.labels.insert("role".into(), "b".into());
    let running_id = docker.create(&running).await.unwrap();
    let created_id = docker.create(&created).await.unwrap();
    let other_id = docker.create(&other).await.unwrap();
    docker.start(&running_id).await.unwrap();
    docker.start(&other_id).await.unwrap();

    let mut filter = ContainerFilter {
        labels: scope.labels(),
        all: false,
    };
    filter.labels.insert("role".into(), "a".into());
    let ids = |infos: Vec<lastbackend_runtime::ContainerInfo>| {
        let mut ids: Vec<String> = infos.into_iter().map(|info| info.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(docker.list(&filter).await.unwrap()),
        [running_id.as_str()]
    );
    filter.all = true;
    let mut want = vec![running_id, created_id];
    want.sort();
    assert_eq!(ids(docker.list(&filter).await.unwrap()), want);
    filter.labels = scope.labels();
    assert_eq!(docker.list(&filter).await.unwrap().len(), 3);
    let listed = docker.list(&filter).await.unwrap();
    let states: Vec<_> = listed
        .iter()
        .map(|info| (info.name.clone(), info.state))
        .collect();
    assert!(
        states.contains(&(created.name.clone(), ContainerState::Created)),
        "{states:?}"
    );
    assert!(
        states.contains(&(running.name.clone(), ContainerState::Running)),
        "{states:?}"
    );
}

#[tokio::test]
async fn stop_and_remove_are_idempotent_and_missing_is_not_found() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    // Ignores SIGTERM, so the stop timeout decides.
    let spec = scope.spec("stop", "trap '' TERM; while true; do sleep 1; done");
    let id = docker.create(&spec).await.unwrap();
    docker.start(&id).await.unwrap();
    docker.stop(&id, Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        docker.inspect(&id).await.unwrap().state,
        ContainerState::Exited(137)
    );
    docker
        .stop(&id, Duration::from_secs(1))
        .await
        .expect("stopping twice is fine");
    assert!(docker.inspect(&id).await.unwrap().finished.is_some());
    docker.remove(&id, false).await.unwrap();

    let missing = [
        docker.remove(&id, true).await.unwrap_err(),
        docker.inspect(&id).await.unwrap_err(),
        docker.start(&id).await.unwrap_err(),
        docker.stop(&id, Duration::from_secs(1)).await.unwrap_err(),
        docker.wait(&id).await.unwrap_err(),
        docker.logs(&id, LogOptions::default()).await.err().unwrap(),
        docker.exec(&id, &["true".into()]).await.unwrap_err(),
    ];
    for err in missing {
        assert!(err.is_not_found(), "{err}");
    }

    let running = docker
        .create(&scope.spec("forced", "exec sleep 300"))
        .await
        .unwrap();
    docker.start(&running).await.unwrap();
    let err = docker.remove(&running, false).await.unwrap_err();
    assert!(
        err.is_backend(),
        "a running container is not removed unforced: {err}"
    );
    docker.remove(&running, true).await.unwrap();
    assert!(docker.inspect(&running).await.unwrap_err().is_not_found());

    let mut bad = scope.spec("noimage", "true");
    bad.image = "lastbackend/absent:never".into();
    let err = docker.create(&bad).await.unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("image"),
        "{err}"
    );
    // Engines check a network (or the owner of one) at create or, like
    // 20.10, at start; either way it is not the container that is missing.
    let absent = scope.name("absent");
    for mode in [
        NetworkMode::Network(absent.clone()),
        NetworkMode::Container(absent.clone()),
    ] {
        let mut bad = scope.spec("nonet", "true");
        bad.network = mode.clone();
        let err = match docker.create(&bad).await {
            Err(e) => {
                assert!(e.is_not_found(), "{mode:?}: {e}");
                e
            }
            Ok(id) => {
                let e = docker.start(&id).await.unwrap_err();
                assert!(!e.is_not_found(), "{mode:?}: {e}");
                docker.remove(&id, true).await.unwrap();
                e
            }
        };
        assert!(err.to_string().contains(&absent), "{mode:?}: {err}");
    }
}

#[tokio::test]
async fn on_failure_restarts_a_crashing_container() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let mut spec = scope.spec("crash", "sleep 0.2; exit 1");
    spec.restart = RestartPolicy::OnFailure;
    let id = docker.create(&spec).await.unwrap();
    docker.start(&id).await.unwrap();
    let count = eventually("two restarts", || async {
        let info = docker.inspect(&id).await.unwrap();
        (info.restart_count >= 2).then_some(info.restart_count)
    })
    .await;
    assert!(count >= 2);
    assert_eq!(
        cli_inspect(&id)["HostConfig"]["RestartPolicy"]["Name"],
        "on-failure"
    );
}
