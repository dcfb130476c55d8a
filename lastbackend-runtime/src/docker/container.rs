//! [`Cri`] over the Docker Engine API.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::{DRIVER, DockerRuntime, convert, error, is_status, message};
use crate::{
    ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, Cri, Error, ExecOutput,
    LogOptions, LogStream, NetworkMode, Result,
};

/// How many containers [`Cri::list`] inspects at once.
const INSPECT_CONCURRENCY: usize = 8;

#[async_trait]
impl Cri for DockerRuntime {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn version(&self) -> Result<String> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| Error::backend(DRIVER, message(&e)))?;
        Ok(format!(
            "{} (API {})",
            version.version.unwrap_or_default(),
            version.api_version.unwrap_or_default()
        ))
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        let body = convert::create_body(spec)?;
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            Err(e) if is_status(&e, 409) => Err(Error::Exists {
                kind: "container",
                name: spec.name.clone(),
            }),
            // A 404 here is what the spec refers to, not the container.
            Err(e) if is_status(&e, 404) => {
                let text = message(&e).to_lowercase();
                Err(match &spec.network {
                    NetworkMode::Network(name) if text.contains("network") => {
                        Error::not_found("network", name.clone())
                    }
                    NetworkMode::Container(owner) if text.contains("container") => {
                        Error::not_found("container", owner.clone())
                    }
                    _ => Error::not_found("image", spec.image.clone()),
                })
            }
            Err(e) => Err(error("container", &spec.name)(e)),
        }
    }

    async fn start(&self, id: &str) -> Result<()> {
        // The engine answers 304 for a running container; bollard takes it
        // as success.
        self.docker
            .start_container(id, None)
            .await
            .map_err(error("container", id))
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<()> {
        let seconds = i32::try_from(timeout.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        self.docker
            .stop_container(id, Some(options))
            .await
            .map_err(error("container", id))
    }

    async fn remove(&self, id: &str, force: bool) -> Result<()> {
        // `v` drops anonymous volumes with it; named binds are ours to keep.
        let options = RemoveContainerOptionsBuilder::new()
            .force(force)
            .v(true)
            .build();
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(error("container", id))
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(error("container", id))?;
        Ok(convert::container_info(inspect))
    }

    async fn list(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>> {
        let labels: Vec<String> = filter
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let filters = HashMap::from([("label", labels)]);
        let options = ListContainersOptionsBuilder::new()
            .all(filter.all)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| {
                Error::backend(DRIVER, format_args!("list containers: {}", message(&e)))
            })?;
        // The summary lacks exit codes, restart counts and times: inspect
        // each, skipping those removed in between.
        let ids = summaries.into_iter().filter_map(|summary| summary.id);
        let infos: Vec<Option<ContainerInfo>> = stream::iter(ids)
            .map(|id| async move {
                match self.inspect(&id).await {
                    Ok(info) => Ok(Some(info)),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(INSPECT_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(infos.into_iter().flatten().collect())
    }

    async fn logs(&self, id: &str, options: LogOptions) -> Result<LogStream> {
        super::stream::logs(self, id, options).await
    }

    async fn events(&self) -> Result<BoxStream<'static, Result<ContainerEvent>>> {
        Ok(super::stream::events(self))
    }

    async fn wait(&self, id: &str) -> Result<i64> {
        super::stream::wait(self, id).await
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        super::stream::exec(self, id, command).await
    }

    async fn ensure_network(&self, name: &str, subnet: &str, gateway: IpAddr) -> Result<()> {
        super::network::ensure(self, name, subnet, gateway).await
    }
}
