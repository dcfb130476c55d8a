use futures::StreamExt;

use super::*;
use crate::api::types::WatchEvent;
use crate::model::{Secret, Service};

#[tokio::test]
async fn a_watch_resumes_after_a_revision() {
    let api = with_demo().await;
    let first = api
        .create_secret("demo", secret_m("a", "data: {k: v}"))
        .await
        .unwrap();
    let second = api
        .create_secret("demo", secret_m("b", "data: {k: v}"))
        .await
        .unwrap();
    let mut events = api
        .watch::<Secret>("demo:", Some(first.meta.revision))
        .await
        .unwrap();
    let WatchEvent::Created { revision, object } = events.next().await.unwrap().unwrap() else {
        panic!("created expected")
    };
    assert_eq!(
        (revision, object.meta.name.as_str()),
        (second.meta.revision, "b")
    );

    api.update_secret("demo", "a", secret_m("a", "data: {k: w}"), None)
        .await
        .unwrap();
    let WatchEvent::Updated { object, .. } = events.next().await.unwrap().unwrap() else {
        panic!("updated expected")
    };
    assert_eq!(object.spec.data["k"], "w");

    // Another kind and another namespace stay out.
    api.create_service("demo", service_m("web", 1, None, None))
        .await
        .unwrap();
    api.create_namespace(namespace_m("other", ""))
        .await
        .unwrap();
    api.create_secret("other", secret_m("c", "")).await.unwrap();
    let removed = api.remove_secret("demo", "b").await.unwrap();
    let WatchEvent::Deleted { revision, object } = events.next().await.unwrap().unwrap() else {
        panic!("deleted expected")
    };
    assert_eq!(object.meta.name, "b");
    assert_eq!(object.spec, removed.spec);
    assert!(revision > removed.meta.revision);

    // From now on: only what comes next.
    let mut services = api.watch::<Service>("", None).await.unwrap();
    api.scale_service("demo", "web", 2).await.unwrap();
    let event = services.next().await.unwrap().unwrap();
    assert!(matches!(event, WatchEvent::Updated { object, .. } if object.spec.replicas == 2));
}

#[tokio::test]
async fn a_compacted_revision_ends_the_watch_with_410() {
    let api = api_over(Arc::new(MemoryStorage::with_history(2)));
    api.create_namespace(namespace_m("demo", "")).await.unwrap();
    let first = api.create_secret("demo", secret_m("a", "")).await.unwrap();
    for name in ["b", "c", "d", "e"] {
        api.create_secret("demo", secret_m(name, "")).await.unwrap();
    }
    let mut events = api
        .watch::<Secret>("", Some(first.meta.revision - 1))
        .await
        .unwrap();
    let WatchEvent::Error(body) = events.next().await.unwrap().unwrap() else {
        panic!("error expected")
    };
    assert_eq!((body.code, body.status.as_str()), (410, "Gone"));
    assert!(events.next().await.is_none());
}
