//! `--wait`: follow services until each is ready or one fails.

use std::collections::BTreeMap;
use std::time::Duration;

use lastbackend_core::model::{Pod, Service, State};

use super::Printer;
use crate::Client;

/// How often the services are read again.
const POLL: Duration = Duration::from_secs(1);

/// Where one service stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Not there yet; the line to show.
    Pending(String),
    /// Every replica is ready.
    Ready(String),
    /// The service failed; the line says why.
    Failed(String),
}

/// Judges a service from its state and its pods (pure, for tests).
pub(crate) fn progress(service: &Service, pods: &[Pod]) -> Progress {
    let name = &service.meta.name;
    let state = service.status.status.state;
    let replicas = service.spec.replicas;
    let ready = pods
        .iter()
        .filter(|pod| pod.status.ready && !pod.status.status.state.is_terminating())
        .count();
    let line = format!("{name}: {state}, {ready}/{replicas} pods ready");
    let failed_pod = pods
        .iter()
        .find(|pod| pod.status.status.state == State::Error);
    match state {
        State::Error => {
            let reason = match service.status.status.message.as_str() {
                "" => failed_pod.map_or("", |pod| pod.status.status.message.as_str()),
                message => message,
            };
            Progress::Failed(
                format!("{line}: {reason}")
                    .trim_end_matches(": ")
                    .to_owned(),
            )
        }
        State::Ready if ready >= replicas as usize => Progress::Ready(line),
        _ => Progress::Pending(line),
    }
}

/// Waits for `services` in `namespace`, printing a line whenever one's
/// progress changes; fails on the first failed service or at `timeout`.
pub(crate) async fn services(
    client: &Client,
    out: &Printer,
    namespace: &str,
    services: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut shown: BTreeMap<&str, String> = BTreeMap::new();
    let show = |line: &str| {
        // Scripts reading JSON or YAML from stdout get progress on stderr.
        if out.is_table() {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    loop {
        let mut pending = Vec::new();
        for name in services {
            let handle = client.namespace(namespace).service(name);
            let service = handle.get().await?;
            let pods = handle.pods().await?.items;
            let (line, done) = match progress(&service, &pods) {
                Progress::Failed(line) => {
                    show(&line);
                    anyhow::bail!("service `{name}` failed");
                }
                Progress::Ready(line) => (line, true),
                Progress::Pending(line) => (line, false),
            };
            if shown.get(name.as_str()) != Some(&line) {
                show(&line);
                shown.insert(name, line.clone());
            }
            if !done {
                pending.push(line);
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "timed out after {}s waiting for: {}",
                timeout.as_secs(),
                pending.join("; ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use lastbackend_core::model::Status;

    use super::*;

    fn service(state: State, message: &str, replicas: u32) -> Service {
        let mut service = Service::default();
        service.meta.name = "2048".into();
        service.spec.replicas = replicas;
        service.status.status = Status::with_message(state, message);
        service
    }

    fn pod(ready: bool) -> Pod {
        let mut pod = Pod::default();
        pod.status.ready = ready;
        pod.status.status = Status::new(if ready {
            State::Ready
        } else {
            State::Provision
        });
        pod
    }

    #[test]
    fn ready_needs_the_state_and_every_replica() {
        assert_eq!(
            progress(&service(State::Ready, "", 2), &[pod(true), pod(false)]),
            Progress::Pending("2048: ready, 1/2 pods ready".into())
        );
        assert_eq!(
            progress(&service(State::Ready, "", 2), &[pod(true), pod(true)]),
            Progress::Ready("2048: ready, 2/2 pods ready".into())
        );
        assert_eq!(
            progress(&service(State::Provision, "", 1), &[]),
            Progress::Pending("2048: provision, 0/1 pods ready".into())
        );
    }

    #[test]
    fn a_failed_service_says_why() {
        assert_eq!(
            progress(&service(State::Error, "image not found", 1), &[pod(false)]),
            Progress::Failed("2048: error, 0/1 pods ready: image not found".into())
        );
    }
}
