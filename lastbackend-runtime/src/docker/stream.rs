//! The streaming calls: logs, events, wait and exec.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptionsBuilder, LogsOptionsBuilder};
use bytes::BytesMut;
use chrono::Utc;
use futures::stream::{BoxStream, StreamExt};

use super::{DRIVER, DockerRuntime, convert, error, message};
use crate::{ContainerEvent, Cri, Error, ExecOutput, LogLine, LogOptions, LogStream, Result};

/// Attributes Docker adds to a container event's actor besides its labels.
const EVENT_ATTRIBUTES: &[&str] = &["image", "name", "exitCode", "signal", "execID"];

/// How long [`exec`] waits for the engine to record an exit code after the
/// output closed.
const EXEC_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn logs(
    docker: &DockerRuntime,
    id: &str,
    options: LogOptions,
) -> Result<LogStream> {
    // The stream would only fail when first read; a missing container is
    // the caller's to know now.
    docker.inspect(id).await?;
    let mut builder = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(options.follow)
        .timestamps(options.timestamps)
        .tail(
            &options
                .tail
                .map_or_else(|| "all".to_owned(), |n| n.to_string()),
        );
    if let Some(since) = options.since {
        // The engine counts in whole seconds here.
        builder = builder.since(i32::try_from(since.timestamp()).unwrap_or(i32::MAX));
    }
    let id = id.to_owned();
    let stream = docker
        .docker
        .logs(&id, Some(builder.build()))
        .filter_map(move |item| {
            let line = match item {
                Ok(LogOutput::StdErr { message }) => Some(Ok(LogLine {
                    stderr: true,
                    data: message,
                })),
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(LogLine {
                        stderr: false,
                        data: message,
                    }))
                }
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(error("container", &id)(e))),
            };
            async move { line }
        });
    Ok(stream.boxed())
}

/// Container events from now on: `since` is this instant, so events between
/// this call and the stream's first read are not lost.
pub(super) fn events(docker: &DockerRuntime) -> BoxStream<'static, Result<ContainerEvent>> {
    let now = Utc::now();
    let since = format!("{}.{:09}", now.timestamp(), now.timestamp_subsec_nanos());
    let filters = HashMap::from([("type", vec!["container"])]);
    let options = EventsOptionsBuilder::new()
        .since(&since)
        .filters(&filters)
        .build();
    docker
        .docker
        .events(Some(options))
        .filter_map(|item| async move {
            match item {
                Ok(message) => container_event(message).map(Ok),
                Err(e) => Some(Err(Error::backend(
                    DRIVER,
                    format_args!("events: {}", message(&e)),
                ))),
            }
        })
        .boxed()
}

fn container_event(message: EventMessage) -> Option<ContainerEvent> {
    if message
        .typ
        .is_some_and(|typ| typ != EventMessageTypeEnum::CONTAINER)
    {
        return None;
    }
    let actor = message.actor?;
    let mut event = ContainerEvent::new(actor.id?, message.action?);
    event.labels = convert::labels(actor.attributes);
    event
        .labels
        .retain(|key, _| !EVENT_ATTRIBUTES.contains(&key.as_str()));
    Some(event)
}

pub(super) async fn wait(docker: &DockerRuntime, id: &str) -> Result<i64> {
    let mut stream = docker.docker.wait_container(id, None).boxed();
    match stream.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        // bollard reports a non-zero exit as an error carrying the code.
        Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(error("container", id)(e)),
        None => Err(Error::backend(
            DRIVER,
            format_args!("wait {id}: the engine closed the stream without an exit code"),
        )),
    }
}

pub(super) async fn exec(
    docker: &DockerRuntime,
    id: &str,
    command: &[String],
) -> Result<ExecOutput> {
    if command.is_empty() {
        return Err(convert::invalid("exec command", "empty"));
    }
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(command.to_vec()),
        ..CreateExecOptions::default()
    };
    let created = docker
        .docker
        .create_exec(id, options)
        .await
        .map_err(error("container", id))?;
    let mut output = BytesMut::new();
    match docker.docker.start_exec(&created.id, None).await {
        Ok(StartExecResults::Attached {
            output: mut chunks, ..
        }) => {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(error("container", id))?;
                output.extend_from_slice(&chunk.into_bytes());
            }
        }
        Ok(StartExecResults::Detached) => {
            return Err(Error::backend(DRIVER, "exec started detached"));
        }
        Err(e) => return Err(error("container", id)(e)),
    }
    // The output closes as the process exits; the engine records the exit
    // code a moment later.
    let deadline = tokio::time::Instant::now() + EXEC_EXIT_TIMEOUT;
    loop {
        let inspect = docker
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(error("exec", &created.id))?;
        match (inspect.running, inspect.exit_code) {
            (Some(false), Some(exit_code)) => {
                return Ok(ExecOutput {
                    exit_code,
                    output: output.freeze(),
                });
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(Error::backend(
                    DRIVER,
                    format_args!("exec in {id}: no exit code after {EXEC_EXIT_TIMEOUT:?}"),
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;

    use super::*;

    fn message(typ: EventMessageTypeEnum, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some("die".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                ),
            }),
            ..EventMessage::default()
        }
    }

    #[test]
    fn events_carry_labels_without_the_engine_attributes() {
        let event = container_event(message(
            EventMessageTypeEnum::CONTAINER,
            &[
                ("image", "busybox"),
                ("name", "web"),
                ("exitCode", "3"),
                ("pod", "p"),
            ],
        ))
        .unwrap();
        assert_eq!((event.id.as_str(), event.action.as_str()), ("abc", "die"));
        assert_eq!(
            event.labels.into_iter().collect::<Vec<_>>(),
            [("pod".into(), "p".into())]
        );
        assert_eq!(
            container_event(message(EventMessageTypeEnum::NETWORK, &[])),
            None
        );
    }
}
