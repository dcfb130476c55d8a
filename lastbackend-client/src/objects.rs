//! The kinds that live in a namespace and share one CRUD shape: services,
//! secrets, configs, routes and volumes.

use std::marker::PhantomData;

use http::Method;
use lastbackend_core::api::types::List;
use lastbackend_core::manifest::{
    ConfigManifest, RouteManifest, SecretManifest, ServiceManifest, VolumeManifest,
};
use lastbackend_core::model::{Config, Object, Route, Secret, Service, Volume};
use lastbackend_core::storage::Revision;
use serde::Serialize;

use crate::client::{Client, Payload, segment};
use crate::error::Result;
use crate::watch::{WatchStream, watch};

/// A kind stored inside a namespace, at `/namespace/{ns}/{SEGMENT}`.
pub trait Namespaced: Object {
    /// The request body of create and update.
    type Manifest: Serialize + Send + Sync;
    /// The path segment of its collection (`service`).
    const SEGMENT: &'static str;
}

macro_rules! namespaced {
    ($($ty:ident: $manifest:ident = $segment:literal),* $(,)?) => {$(
        impl Namespaced for $ty {
            type Manifest = $manifest;
            const SEGMENT: &'static str = $segment;
        }
    )*};
}

namespaced!(
    Service: ServiceManifest = "service",
    Secret: SecretManifest = "secret",
    Config: ConfigManifest = "config",
    Route: RouteManifest = "route",
    Volume: VolumeManifest = "volume",
);

pub(crate) fn collection_path<T: Namespaced>(namespace: &str) -> String {
    format!("/namespace/{}/{}", segment(namespace), T::SEGMENT)
}

/// All objects of one kind in a namespace: list, create, watch.
pub struct Collection<T> {
    client: Client,
    namespace: String,
    kind: PhantomData<fn() -> T>,
}

impl<T: Namespaced> Collection<T> {
    pub(crate) fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            kind: PhantomData,
        }
    }

    /// Every object of the kind, with the revision to watch after.
    pub async fn list(&self) -> Result<List<T>> {
        self.client
            .get(&collection_path::<T>(&self.namespace))
            .await
    }

    /// Creates an object from its manifest; 409 when the name is taken.
    pub async fn create(&self, manifest: &T::Manifest) -> Result<T> {
        self.client
            .call_json(
                Method::POST,
                &collection_path::<T>(&self.namespace),
                manifest,
            )
            .await
    }

    /// The changes after `from` (from now when `None`); see [`crate::watch`].
    pub fn watch(&self, from: Option<Revision>) -> WatchStream<T> {
        watch(
            self.client.clone(),
            collection_path::<T>(&self.namespace),
            from,
        )
    }
}

/// One object in a namespace: get, update, remove.
pub struct Handle<T> {
    client: Client,
    path: String,
    kind: PhantomData<fn() -> T>,
}

impl<T: Namespaced> Handle<T> {
    pub(crate) fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            path: format!("{}/{}", collection_path::<T>(namespace), segment(name)),
            client,
            kind: PhantomData,
        }
    }

    /// The object.
    pub async fn get(&self) -> Result<T> {
        self.client.get(&self.path).await
    }

    /// Replaces its spec with the manifest's.
    pub async fn update(&self, manifest: &T::Manifest) -> Result<T> {
        self.client
            .call_json(Method::PUT, &self.path, manifest)
            .await
    }

    /// Removes it; the answer is the object as removed (services and
    /// volumes are marked for destruction and go once torn down).
    pub async fn remove(&self) -> Result<T> {
        self.client
            .call(Method::DELETE, &self.path, Payload::Empty)
            .await
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}
