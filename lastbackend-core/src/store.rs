//! Typed access to the entity model over any [`Storage`]: objects go in as
//! JSON under [`Object::key`], come out with `meta.revision` set from the
//! store, and updates are compare-and-swap on that revision, so two writers
//! never silently overwrite each other.

use std::sync::Arc;

use bytes::Bytes;

use crate::model::{Object, SelfLink};
use crate::storage::{self, Error, KeyValue, Result, Revision, Storage, Txn, TxnOp};

/// A typed handle over a shared [`Storage`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    storage: Arc<dyn Storage>,
}

impl Store {
    /// Wraps a backend.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The backend, for raw access (watches, leases).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Reads the object at `link`; [`Error::NotFound`] if missing.
    pub async fn get<T: Object>(&self, link: &SelfLink) -> Result<T> {
        decode(self.storage.get(&link.key()).await?)
    }

    /// Reads the object at `link`, or `None`.
    pub async fn find<T: Object>(&self, link: &SelfLink) -> Result<Option<T>> {
        match self.get(link).await {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads every object of `T`'s kind whose selflink starts with `prefix`
    /// (`""`: all; `"demo:"`: those in namespace `demo`), sorted by selflink,
    /// and the revision to watch after.
    pub async fn list<T: Object>(&self, prefix: &str) -> Result<(Vec<T>, Revision)> {
        let list = self
            .storage
            .list(&storage::key(T::KIND.collection(), prefix))
            .await?;
        let items = list.items.into_iter().map(decode).collect::<Result<_>>()?;
        Ok((items, list.revision))
    }

    /// Stores a new object; [`Error::Exists`] if its key is taken. Returns it
    /// with its revision.
    pub async fn create<T: Object>(&self, obj: &T) -> Result<T> {
        let revision = self.storage.put(&obj.key(), encode(obj)?, None).await?;
        Ok(with_revision(obj.clone(), revision))
    }

    /// Replaces an object read at `obj.meta().revision`; [`Error::Conflict`]
    /// if it changed since. Returns it with its new revision.
    pub async fn update<T: Object>(&self, obj: &T) -> Result<T> {
        let revision = self
            .storage
            .set(&obj.key(), encode(obj)?, obj.meta().revision, None)
            .await?;
        Ok(with_revision(obj.clone(), revision))
    }

    /// Deletes an object, only at the revision it was read at when that is
    /// set.
    pub async fn delete<T: Object>(&self, obj: &T) -> Result<Revision> {
        let revision = Some(obj.meta().revision).filter(|r| *r != 0);
        self.storage.del(&obj.key(), revision).await
    }

    /// Applies a [`Writes`] batch: all or nothing.
    pub async fn commit(&self, writes: Writes) -> Result<Revision> {
        self.storage.txn(writes.txn).await
    }

    /// Applies a [`Writes`] batch only if `fence` holds: a [`TxnOp::Check`]
    /// such as a controller leader's fence
    /// ([`Leadership::fence`](crate::controller::leader::Leadership::fence)).
    /// When it does not, nothing is written and the error is a conflict on
    /// the fence's key.
    pub async fn commit_fenced(&self, writes: Writes, fence: TxnOp) -> Result<Revision> {
        let mut txn = writes.txn;
        // First, so a failed fence is the error reported.
        txn.ops.insert(0, fence);
        self.storage.txn(txn).await
    }
}

/// A batch of typed writes committed together by [`Store::commit`], each
/// guarded as its single-object counterpart.
#[derive(Clone, Debug, Default)]
pub struct Writes {
    txn: Txn,
}

impl Writes {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates `obj` (fails the batch if its key is taken).
    pub fn create<T: Object>(mut self, obj: &T) -> Result<Self> {
        self.txn.ops.push(TxnOp::Create {
            key: obj.key(),
            value: encode(obj)?,
            lease: None,
        });
        Ok(self)
    }

    /// Replaces `obj` at the revision it was read at.
    pub fn update<T: Object>(mut self, obj: &T) -> Result<Self> {
        self.txn.ops.push(TxnOp::Update {
            key: obj.key(),
            value: encode(obj)?,
            revision: obj.meta().revision,
            lease: None,
        });
        Ok(self)
    }

    /// Deletes `obj` at the revision it was read at.
    pub fn delete<T: Object>(mut self, obj: &T) -> Self {
        self.txn.ops.push(TxnOp::Delete {
            key: obj.key(),
            revision: Some(obj.meta().revision).filter(|r| *r != 0),
        });
        self
    }

    /// The number of writes.
    pub fn len(&self) -> usize {
        self.txn.ops.len()
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.txn.ops.is_empty()
    }
}

/// The stored form: JSON without the read revision.
pub fn encode<T: Object>(obj: &T) -> Result<Bytes> {
    let mut obj = obj.clone();
    obj.meta_mut().revision = 0;
    serde_json::to_vec(&obj)
        .map(Bytes::from)
        .map_err(|e| Error::Invalid(format!("cannot encode {}: {e}", obj.key())))
}

/// Reads a stored object and stamps it with the revision it was read at.
pub fn decode<T: Object>(kv: KeyValue) -> Result<T> {
    let obj: T = serde_json::from_slice(&kv.value).map_err(|e| Error::Corrupt {
        key: kv.key.clone(),
        reason: e.to_string(),
    })?;
    Ok(with_revision(obj, kv.mod_revision))
}

fn with_revision<T: Object>(mut obj: T, revision: Revision) -> T {
    obj.meta_mut().revision = revision;
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Meta, Namespace, Service};

    fn service(ns: &str, name: &str) -> Service {
        let link = SelfLink::namespaced(Kind::Service, ns, name);
        Service {
            meta: Meta::new(name, &link),
            ..Service::default()
        }
    }

    #[tokio::test]
    async fn objects_round_trip_with_their_revision() {
        let store = Store::new(Arc::new(storage::memory::MemoryStorage::new()));
        let web = store.create(&service("demo", "web")).await.unwrap();
        assert!(web.meta.revision > 0);
        let link = web.self_link().unwrap();
        let read: Service = store.get(&link).await.unwrap();
        assert_eq!(read, web);

        let raw = store.storage().get("service/demo:web").await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&raw.value).unwrap();
        assert!(json["meta"].get("revision").is_none(), "{json}");

        let mut changed = read.clone();
        changed.spec.replicas = 3;
        let changed = store.update(&changed).await.unwrap();
        assert!(changed.meta.revision > read.meta.revision);
        let stale = store.update(&read).await.unwrap_err();
        assert!(stale.is_conflict(), "{stale}");
        assert!(store.create(&read).await.unwrap_err().is_exists());

        store.create(&service("demo", "db")).await.unwrap();
        store.create(&service("demo2", "web")).await.unwrap();
        let (in_demo, _) = store.list::<Service>("demo:").await.unwrap();
        let names: Vec<_> = in_demo.iter().map(|s| s.meta.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);

        assert!(store.delete(&read).await.unwrap_err().is_conflict());
        store.delete(&changed).await.unwrap();
        assert!(store.find::<Service>(&link).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_is_all_or_nothing() {
        let store = Store::new(Arc::new(storage::memory::MemoryStorage::new()));
        let taken = store.create(&service("demo", "taken")).await.unwrap();
        let ns = Namespace {
            meta: Meta::new("demo", &SelfLink::namespace("demo")),
            ..Namespace::default()
        };
        let batch = Writes::new()
            .create(&ns)
            .unwrap()
            .create(&service("demo", "taken"))
            .unwrap();
        assert_eq!(batch.len(), 2);
        assert!(store.commit(batch).await.unwrap_err().is_exists());
        assert!(
            store
                .find::<Namespace>(&SelfLink::namespace("demo"))
                .await
                .unwrap()
                .is_none()
        );

        let batch = Writes::new().create(&ns).unwrap().delete(&taken);
        store.commit(batch).await.unwrap();
        assert!(
            store
                .find::<Service>(&taken.self_link().unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_corrupt_value_is_an_error_naming_the_key() {
        let store = Store::new(Arc::new(storage::memory::MemoryStorage::new()));
        store
            .storage()
            .put("service/demo:bad", Bytes::from_static(b"{not json"), None)
            .await
            .unwrap();
        let err = store
            .get::<Service>(&SelfLink::namespaced(Kind::Service, "demo", "bad"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("service/demo:bad"), "{err}");
    }
}
