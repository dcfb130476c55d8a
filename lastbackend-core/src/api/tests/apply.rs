use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::api::ApplyOptions;
use crate::api::types::ApplyAction;
use crate::model::{Kind, Secret, SelfLink, Service};
use crate::storage::{self as st, KeyValue, LeaseId, Revision, Txn, WatchStream};

const BUNDLE: &str = r#"
kind: Config
version: v1
meta: {name: cfg}
spec: {data: {a: "1"}}
---
kind: Secret
version: v1
meta: {name: db}
spec: {data: {password: s3cret}}
---
kind: Service
version: v1
meta: {name: web, labels: {tier: front}}
spec:
  replicas: 2
  network: {ports: ["80:8080"]}
  template:
    containers:
      - name: web
        image: {name: nginx}
        env: [{name: P, secret: {name: db, key: password}}]
---
kind: Route
version: v1
meta: {name: www}
spec: {port: 8080, endpoint: www.example.com, rules: [{service: web, port: 80}]}
---
kind: Volume
version: v1
meta: {name: data}
spec: {capacity: {storage: 1gib}}
"#;

fn bundle() -> Vec<Manifest> {
    manifest::parse(BUNDLE).unwrap()
}

fn actions(report: &crate::api::types::ApplyReport) -> Vec<(String, ApplyAction)> {
    report
        .items
        .iter()
        .map(|i| (format!("{}/{}", i.kind, i.name), i.action))
        .collect()
}

fn service_link() -> SelfLink {
    SelfLink::namespaced(Kind::Service, "demo", "web")
}

#[tokio::test]
async fn apply_creates_then_finds_everything_unchanged() {
    let api = with_demo().await;
    let report = api
        .apply("demo", bundle(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.revision > 0);
    assert!(!report.dry_run);
    assert_eq!(
        actions(&report),
        [
            ("Config/cfg".to_owned(), ApplyAction::Created),
            ("Secret/db".to_owned(), ApplyAction::Created),
            ("Service/web".to_owned(), ApplyAction::Created),
            ("Route/www".to_owned(), ApplyAction::Created),
            ("Volume/data".to_owned(), ApplyAction::Created),
        ]
    );
    let web: Service = api.store().get(&service_link()).await.unwrap();
    assert_eq!(web.meta.revision, report.revision, "one transaction");
    assert_eq!((web.spec.replicas, web.spec.generation), (2, 1));
    assert_eq!(web.meta.labels["tier"], "front");
    assert_eq!(web.status.endpoint, "web.demo.lb.local");

    let again = api
        .apply("demo", bundle(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(
        again
            .items
            .iter()
            .all(|i| i.action == ApplyAction::Unchanged),
        "{again:?}"
    );
    assert_eq!(again.revision, 0);

    // A label change alone is an update; a template change a new generation.
    let text = BUNDLE
        .replace("tier: front", "tier: back")
        .replace("image: {name: nginx}", "image: {name: nginx:2}");
    let report = api
        .apply(
            "demo",
            manifest::parse(&text).unwrap(),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.items[2].action, ApplyAction::Updated);
    assert_eq!(report.items[0].action, ApplyAction::Unchanged);
    let web: Service = api.store().get(&service_link()).await.unwrap();
    assert_eq!(
        (web.meta.labels["tier"].as_str(), web.spec.generation),
        ("back", 2)
    );
    assert_eq!(
        web.meta.created,
        api.service("demo", "web").await.unwrap().meta.created
    );
}

#[tokio::test]
async fn redeploy_bumps_the_generation_of_unchanged_services() {
    let api = with_demo().await;
    api.apply("demo", bundle(), ApplyOptions::default())
        .await
        .unwrap();
    let opts = ApplyOptions {
        redeploy: true,
        ..ApplyOptions::default()
    };
    let report = api.apply("demo", bundle(), opts).await.unwrap();
    assert_eq!(report.items[2].action, ApplyAction::Updated);
    assert_eq!(report.items[1].action, ApplyAction::Unchanged);
    assert_eq!(api.service("demo", "web").await.unwrap().spec.generation, 2);
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let api = with_demo().await;
    let before = api.store().storage().revision().await.unwrap();
    let opts = ApplyOptions {
        dry_run: true,
        ..ApplyOptions::default()
    };
    let report = api.apply("demo", bundle(), opts).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(report.revision, 0);
    assert!(
        report
            .items
            .iter()
            .all(|i| i.action == ApplyAction::Created)
    );
    assert_eq!(api.store().storage().revision().await.unwrap(), before);
}

#[tokio::test]
async fn any_failure_leaves_nothing_written() {
    let api = with_demo().await;
    let before = api.store().storage().revision().await.unwrap();

    // An invalid document: every problem, with its document and path.
    let mut docs = bundle();
    let Manifest::Service(web) = &mut docs[2] else {
        unreachable!()
    };
    web.spec.replicas = 1_000_000;
    let err = api
        .apply("demo", docs, ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    let problem = &err.body().errors[0];
    assert_eq!(
        (problem.document, problem.path.as_str()),
        (Some(3), "spec.replicas")
    );

    // A namespace document.
    let mut docs = bundle();
    docs.push(doc("kind: Namespace\nmeta: {name: other}\n"));
    let err = api
        .apply("demo", docs, ApplyOptions::default())
        .await
        .unwrap_err();
    let problem = &err.body().errors[0];
    assert_eq!((problem.document, problem.path.as_str()), (Some(6), "kind"));

    // A route naming a service that is neither stored nor applied.
    let text = BUNDLE.replace("rules: [{service: web", "rules: [{service: nope");
    let err = api
        .apply(
            "demo",
            manifest::parse(&text).unwrap(),
            ApplyOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Bad rules parameter"), "{err}");

    // The quota, for the batch as a whole.
    api.update_namespace(
        "demo",
        namespace_m("demo", "resources: {limits: {ram: 1GB, cpu: \"1\"}}"),
        None,
    )
    .await
    .unwrap();
    let before = before.max(api.store().storage().revision().await.unwrap());
    let mut docs = bundle();
    docs.push(Manifest::Service(service_m(
        "big",
        1,
        Some("900MB"),
        Some("0.5"),
    )));
    let err = api
        .apply("demo", docs, ApplyOptions::default())
        .await
        .unwrap_err();
    // web: 2 × 128 MiB by default, plus 900MB.
    assert_eq!(err.to_string(), "resources ram limit exceeded");

    assert_eq!(api.store().storage().revision().await.unwrap(), before);
    assert!(api.secrets("demo").await.unwrap().items.is_empty());
    assert_eq!(
        api.apply("nope", bundle(), ApplyOptions::default())
            .await
            .unwrap_err()
            .to_string(),
        "Namespace not found"
    );
}

/// A storage that, before each of the first `times` transactions, lets
/// another writer change the secret `demo:db`.
#[derive(Debug)]
struct Meddler {
    inner: MemoryStorage,
    times: AtomicUsize,
}

#[async_trait]
impl Storage for Meddler {
    async fn revision(&self) -> st::Result<Revision> {
        self.inner.revision().await
    }
    async fn get(&self, key: &str) -> st::Result<KeyValue> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> st::Result<st::List> {
        self.inner.list(prefix).await
    }
    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> st::Result<Revision> {
        self.inner.put(key, value, lease).await
    }
    async fn set(
        &self,
        key: &str,
        value: Bytes,
        revision: Revision,
        lease: Option<LeaseId>,
    ) -> st::Result<Revision> {
        self.inner.set(key, value, revision, lease).await
    }
    async fn set_unconditional(
        &self,
        key: &str,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> st::Result<Revision> {
        self.inner.set_unconditional(key, value, lease).await
    }
    async fn del(&self, key: &str, revision: Option<Revision>) -> st::Result<Revision> {
        self.inner.del(key, revision).await
    }
    async fn txn(&self, txn: Txn) -> st::Result<Revision> {
        if self.times.load(Ordering::SeqCst) > 0 {
            self.times.fetch_sub(1, Ordering::SeqCst);
            let kv = self.inner.get("secret/demo:db").await?;
            let mut secret: Secret = serde_json::from_slice(&kv.value).unwrap();
            secret.spec.data.insert("meddled".into(), "yes".into());
            self.inner
                .set_unconditional(
                    "secret/demo:db",
                    serde_json::to_vec(&secret).unwrap().into(),
                    None,
                )
                .await?;
        }
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, after: Option<Revision>) -> st::Result<WatchStream> {
        self.inner.watch(prefix, after).await
    }
    async fn lease_grant(&self, ttl: Duration) -> st::Result<LeaseId> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, lease: LeaseId) -> st::Result<Duration> {
        self.inner.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> st::Result<()> {
        self.inner.lease_revoke(lease).await
    }
}

async fn meddled_api() -> (Api, Arc<Meddler>) {
    let meddler = Arc::new(Meddler {
        inner: MemoryStorage::new(),
        times: AtomicUsize::new(0),
    });
    let api = api_over(meddler.clone());
    api.create_namespace(namespace_m("demo", "")).await.unwrap();
    api.apply("demo", bundle(), ApplyOptions::default())
        .await
        .unwrap();
    (api, meddler)
}

/// The plan reads the secret, another writer changes it before the commit:
/// the commit fails as a whole, the plan is made again and succeeds.
#[tokio::test]
async fn a_write_between_plan_and_commit_is_retried() {
    let (api, meddler) = meddled_api().await;
    meddler.times.store(1, Ordering::SeqCst);
    let text = BUNDLE.replace("password: s3cret", "password: n3w");
    let report = api
        .apply(
            "demo",
            manifest::parse(&text).unwrap(),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.items[1].action, ApplyAction::Updated);
    let secret = api.secret("demo", "db").await.unwrap();
    assert_eq!(secret.spec.data["password"], "n3w");
    // The other writer's change was seen by the second plan and replaced
    // by the manifest: last writer wins, but knowingly.
    assert!(!secret.spec.data.contains_key("meddled"));
    assert_eq!(meddler.times.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_plan_that_keeps_losing_is_a_conflict_and_writes_nothing() {
    let (api, meddler) = meddled_api().await;
    meddler.times.store(usize::MAX / 2, Ordering::SeqCst);
    let text = BUNDLE
        .replace("password: s3cret", "password: n3w")
        .replace("replicas: 2", "replicas: 4");
    let err = api
        .apply(
            "demo",
            manifest::parse(&text).unwrap(),
            ApplyOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 409);
    assert_eq!(api.service("demo", "web").await.unwrap().spec.replicas, 2);
}
