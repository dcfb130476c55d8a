//! Namespaces, apply, and the way into everything a namespace holds.

use http::Method;
use lastbackend_core::api::types::{ApplyReport, List};
use lastbackend_core::manifest::{Manifest, NamespaceManifest};
use lastbackend_core::model::{Config, Namespace, Route, Secret, Service, Volume};
use lastbackend_core::storage::Revision;

use crate::client::{Client, Payload, segment};
use crate::error::{Error, Result};
use crate::objects::{Collection, Handle};
use crate::service::ServiceHandle;
use crate::watch::{WatchStream, watch};

/// Every namespace of the cluster.
pub struct Namespaces {
    client: Client,
}

impl Namespaces {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Every namespace, with the revision to watch after.
    pub async fn list(&self) -> Result<List<Namespace>> {
        self.client.get("/namespace").await
    }

    /// Creates a namespace; 409 when the name is taken.
    pub async fn create(&self, manifest: &NamespaceManifest) -> Result<Namespace> {
        self.client
            .call_json(Method::POST, "/namespace", manifest)
            .await
    }

    /// The changes after `from` (from now when `None`).
    pub fn watch(&self, from: Option<Revision>) -> WatchStream<Namespace> {
        watch(self.client.clone(), "/namespace".to_owned(), from)
    }
}

/// How [`NamespaceHandle::apply`] goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Check everything and report what would change, changing nothing.
    pub dry_run: bool,
    /// Make new deployments for the services even when their templates
    /// are unchanged.
    pub redeploy: bool,
}

/// What to apply: manifest text as written (YAML or JSON, several
/// documents) or parsed manifests.
#[derive(Clone, Debug)]
pub enum ApplyInput {
    /// Sent as is; the server parses it and reports problems by document.
    Text(String),
    /// Sent as a JSON array.
    Manifests(Vec<Manifest>),
}

impl From<&str> for ApplyInput {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for ApplyInput {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Vec<Manifest>> for ApplyInput {
    fn from(manifests: Vec<Manifest>) -> Self {
        Self::Manifests(manifests)
    }
}

/// One namespace and everything in it.
pub struct NamespaceHandle {
    client: Client,
    name: String,
}

impl NamespaceHandle {
    pub(crate) fn new(client: Client, name: &str) -> Self {
        Self {
            client,
            name: name.to_owned(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> String {
        format!("/namespace/{}", segment(&self.name))
    }

    /// The namespace.
    pub async fn get(&self) -> Result<Namespace> {
        self.client.get(&self.path()).await
    }

    /// Replaces its description, labels, domains and quotas.
    pub async fn update(&self, manifest: &NamespaceManifest) -> Result<Namespace> {
        self.client
            .call_json(Method::PUT, &self.path(), manifest)
            .await
    }

    /// Marks it for destruction; the controller removes what it holds.
    pub async fn remove(&self) -> Result<Namespace> {
        self.client
            .call(Method::DELETE, &self.path(), Payload::Empty)
            .await
    }

    /// Creates or updates every manifest in one transaction: all of them or
    /// none.
    pub async fn apply(
        &self,
        input: impl Into<ApplyInput>,
        options: ApplyOptions,
    ) -> Result<ApplyReport> {
        let mut path = format!("{}/apply", self.path());
        let query: Vec<&str> = [
            options.dry_run.then_some("dry_run=true"),
            options.redeploy.then_some("redeploy=true"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let payload = match input.into() {
            ApplyInput::Text(text) => Payload::Yaml(text),
            ApplyInput::Manifests(manifests) => Payload::Json(
                serde_json::to_vec(&manifests)
                    .map_err(|err| Error::ConfigInvalid(format!("cannot encode: {err}")))?,
            ),
        };
        self.client.call(Method::PUT, &path, payload).await
    }

    /// Its services.
    pub fn services(&self) -> Collection<Service> {
        Collection::new(self.client.clone(), &self.name)
    }

    /// One service.
    pub fn service(&self, name: &str) -> ServiceHandle {
        ServiceHandle::new(Handle::new(self.client.clone(), &self.name, name))
    }

    /// Its secrets.
    pub fn secrets(&self) -> Collection<Secret> {
        Collection::new(self.client.clone(), &self.name)
    }

    /// One secret.
    pub fn secret(&self, name: &str) -> Handle<Secret> {
        Handle::new(self.client.clone(), &self.name, name)
    }

    /// Its configs.
    pub fn configs(&self) -> Collection<Config> {
        Collection::new(self.client.clone(), &self.name)
    }

    /// One config.
    pub fn config(&self, name: &str) -> Handle<Config> {
        Handle::new(self.client.clone(), &self.name, name)
    }

    /// Its routes.
    pub fn routes(&self) -> Collection<Route> {
        Collection::new(self.client.clone(), &self.name)
    }

    /// One route.
    pub fn route(&self, name: &str) -> Handle<Route> {
        Handle::new(self.client.clone(), &self.name, name)
    }

    /// Its volumes.
    pub fn volumes(&self) -> Collection<Volume> {
        Collection::new(self.client.clone(), &self.name)
    }

    /// One volume.
    pub fn volume(&self, name: &str) -> Handle<Volume> {
        Handle::new(self.client.clone(), &self.name, name)
    }
}
