//! One service: its manifest, scale, deployments, pods and logs.

use futures::stream::{self, BoxStream, StreamExt};
use http::Method;
use lastbackend_core::api::types::List;
use lastbackend_core::manifest::ServiceManifest;
use lastbackend_core::model::{Deployment, Pod, Service};

use crate::client::{Lines, Payload};
use crate::error::{Error, Result};
use crate::objects::Handle;

/// The lines of a service's log.
pub type LogStream = BoxStream<'static, Result<String>>;

/// One service in a namespace.
pub struct ServiceHandle {
    handle: Handle<Service>,
}

impl ServiceHandle {
    pub(crate) fn new(handle: Handle<Service>) -> Self {
        Self { handle }
    }

    /// The service.
    pub async fn get(&self) -> Result<Service> {
        self.handle.get().await
    }

    /// Replaces its spec; `redeploy` makes a new deployment even when the
    /// template is unchanged (to pull a moved image tag again).
    pub async fn update(&self, manifest: &ServiceManifest, redeploy: bool) -> Result<Service> {
        let path = match redeploy {
            true => format!("{}?redeploy=true", self.handle.path()),
            false => self.handle.path().to_owned(),
        };
        self.handle
            .client()
            .call_json(Method::PUT, &path, manifest)
            .await
    }

    /// Marks it for destruction; the controller tears its pods down.
    pub async fn remove(&self) -> Result<Service> {
        self.handle.remove().await
    }

    /// Sets the number of pods in place, without a new deployment.
    pub async fn scale(&self, replicas: u32) -> Result<Service> {
        self.handle
            .client()
            .call_json(
                Method::PUT,
                &format!("{}/scale", self.handle.path()),
                &serde_json::json!({ "replicas": replicas }),
            )
            .await
    }

    /// Its deployments, the active one and those being replaced.
    pub async fn deployments(&self) -> Result<List<Deployment>> {
        self.handle
            .client()
            .get(&format!("{}/deployment", self.handle.path()))
            .await
    }

    /// The pods of all its deployments.
    pub async fn pods(&self) -> Result<List<Pod>> {
        self.handle
            .client()
            .get(&format!("{}/pod", self.handle.path()))
            .await
    }

    /// The pods of one deployment.
    pub async fn deployment_pods(&self, deployment: &str) -> Result<List<Pod>> {
        self.handle
            .client()
            .get(&format!(
                "{}/deployment/{}/pod",
                self.handle.path(),
                crate::client::segment(deployment)
            ))
            .await
    }

    /// Its log: the last `tail` lines (all when `None`) and, with `follow`,
    /// new lines as they come until the stream is dropped.
    pub async fn logs(&self, tail: Option<u32>, follow: bool) -> Result<LogStream> {
        let mut query = Vec::new();
        if let Some(tail) = tail {
            query.push(format!("tail={tail}"));
        }
        if follow {
            query.push("follow=true".to_owned());
        }
        let mut path = format!("{}/logs", self.handle.path());
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let response = self
            .handle
            .client()
            .send(Method::GET, &path, Payload::Empty)
            .await?;
        let lines = Lines::new(response.into_body(), true);
        Ok(stream::unfold(lines, |mut lines| async move {
            let line = lines.next().await?.map_err(Error::RequestFailed);
            Some((line, lines))
        })
        .boxed())
    }
}
