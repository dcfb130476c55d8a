//! Logs, events, wait and exec.

use chrono::{Duration as Span, Utc};
use futures::StreamExt;
use lastbackend_runtime::docker::DockerRuntime;
use lastbackend_runtime::{Cri, LogLine, LogOptions};

use super::support::{PATIENCE, Scope, docker, eventually};

/// All of a container's output so far, stdout and stderr together.
pub(crate) async fn output(docker: &DockerRuntime, id: &str, options: LogOptions) -> String {
    let lines = lines(docker, id, options).await;
    lines
        .iter()
        .map(|line| String::from_utf8_lossy(&line.data))
        .collect()
}

async fn lines(docker: &DockerRuntime, id: &str, options: LogOptions) -> Vec<LogLine> {
    let stream = docker.logs(id, options).await.unwrap();
    stream.map(|line| line.unwrap()).collect().await
}

/// Runs `sh -c script` in the container; its output, after checking it
/// exited 0.
pub(crate) async fn exec(docker: &DockerRuntime, id: &str, script: &str) -> String {
    let command = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let out = docker.exec(id, &command).await.unwrap();
    let text = String::from_utf8_lossy(&out.output).into_owned();
    assert_eq!(out.exit_code, 0, "{script}: {text}");
    text
}

const CHATTY: &str = "echo out1; echo err1 >&2; echo out2; \
    while [ ! -e /tmp/go ]; do sleep 0.1; done; echo late; exec sleep 300";

#[tokio::test]
async fn logs_split_streams_tail_since_and_follow() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let id = docker.create(&scope.spec("logs", CHATTY)).await.unwrap();
    docker.start(&id).await.unwrap();

    let all = eventually("three lines", || async {
        let lines = lines(&docker, &id, LogOptions::default()).await;
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let tagged: Vec<(bool, String)> = all
        .iter()
        .map(|line| {
            (
                line.stderr,
                String::from_utf8_lossy(&line.data).into_owned(),
            )
        })
        .collect();
    let want = [(false, "out1\n"), (true, "err1\n"), (false, "out2\n")];
    for (stderr, text) in want {
        assert!(tagged.contains(&(stderr, text.to_owned())), "{tagged:?}");
    }

    let tail = LogOptions {
        tail: Some(1),
        ..LogOptions::default()
    };
    // The engine keeps one order per stream, not across them.
    let last = output(&docker, &id, tail).await;
    assert!(last == "out2\n" || last == "err1\n", "{last:?}");

    let stamped = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let stamped = output(&docker, &id, stamped).await;
    let first = stamped.lines().next().unwrap();
    let (at, rest) = first.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{first}");
    assert!(
        rest.starts_with("out") || rest.starts_with("err"),
        "{first}"
    );

    let future = LogOptions {
        since: Some(Utc::now() + Span::hours(1)),
        ..LogOptions::default()
    };
    assert_eq!(output(&docker, &id, future).await, "");

    // History first: once it arrived, the request is live and what the
    // container writes next can only come by following.
    let follow = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let mut stream = docker.logs(&id, follow).await.unwrap();
    for _ in 0..3 {
        let old = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap();
        assert!(!old.unwrap().unwrap().data.starts_with(b"late"));
    }
    exec(&docker, &id, "touch /tmp/go").await;
    let line = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a new line while following")
        .unwrap()
        .unwrap();
    assert_eq!(
        (line.stderr, line.data.as_ref()),
        (false, b"late\n".as_slice())
    );
}

#[tokio::test]
async fn events_announce_start_and_die_and_wait_returns_the_exit_code() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let mut events = docker.events().await.unwrap();
    let id = docker
        .create(&scope.spec("events", "sleep 1; exit 3"))
        .await
        .unwrap();
    docker.start(&id).await.unwrap();
    assert_eq!(docker.wait(&id).await.unwrap(), 3);
    assert_eq!(
        docker.wait(&id).await.unwrap(),
        3,
        "waiting on a stopped one"
    );

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !seen.contains(&"die".to_owned()) {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| panic!("no die event; saw {seen:?}"))
            .unwrap()
            .unwrap();
        if event.id == id {
            assert_eq!(event.labels, scope.labels(), "{event:?}");
            seen.push(event.action);
        }
    }
    assert_eq!(seen, ["create", "start", "die"]);
}

#[tokio::test]
async fn exec_returns_output_and_exit_code() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let id = docker
        .create(&scope.spec("exec", "exec sleep 300"))
        .await
        .unwrap();
    let err = docker.exec(&id, &["true".into()]).await.unwrap_err();
    assert!(err.is_backend(), "not running yet: {err}");
    docker.start(&id).await.unwrap();
    let script = ["sh", "-c", "echo out; echo err >&2; exit 4"].map(String::from);
    let out = docker.exec(&id, &script).await.unwrap();
    assert_eq!(out.exit_code, 4);
    let text = String::from_utf8_lossy(&out.output);
    assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    let err = docker.exec(&id, &[]).await.unwrap_err();
    assert!(err.to_string().contains("exec command"), "{err}");
    let absent = docker.exec(&id, &["/no/such/binary".into()]).await.unwrap();
    assert_ne!(absent.exit_code, 0, "{absent:?}");
}
