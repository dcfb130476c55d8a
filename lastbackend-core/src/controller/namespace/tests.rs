use std::time::Duration;

use super::*;
use crate::controller::fixtures::{Running, eventually, leading};
use crate::model::{Kind, Meta, SelfLink, Status};
use crate::store::Store;

fn in_ns<T: Object + Default>(kind: Kind, ns: &str, name: &str) -> T {
    let mut obj = T::default();
    *obj.meta_mut() = Meta::new(name, &SelfLink::namespaced(kind, ns, name));
    obj
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        meta: Meta::new(name, &SelfLink::namespace(name)),
        ..Namespace::default()
    }
}

/// Everything in `demo` (and `demo2`, which must stay).
async fn fill(store: &Store, ns: &str) {
    store.create(&namespace(ns)).await.unwrap();
    store
        .create(&in_ns::<Service>(Kind::Service, ns, "web"))
        .await
        .unwrap();
    let deployment = Deployment {
        meta: Meta::new("v1", &SelfLink::deployment(ns, "web", "v1")),
        ..Deployment::default()
    };
    store.create(&deployment).await.unwrap();
    let pod = Pod {
        meta: Meta::new("abcdef1", &SelfLink::pod(ns, "web", "v1", "abcdef1")),
        ..Pod::default()
    };
    store.create(&pod).await.unwrap();
    store
        .create(&in_ns::<Endpoint>(Kind::Endpoint, ns, "web"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Secret>(Kind::Secret, ns, "db"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Config>(Kind::Config, ns, "app"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Route>(Kind::Route, ns, "www"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Volume>(Kind::Volume, ns, "data"))
        .await
        .unwrap();
}

/// The stored keys of namespace `ns` and of what is in it.
async fn keys_of(store: &Store, ns: &str) -> Vec<String> {
    let all = store.storage().list("").await.unwrap();
    all.items
        .into_iter()
        .map(|kv| kv.key)
        .filter(|key| {
            key == &format!("namespace/{ns}")
                || key
                    .split_once('/')
                    .is_some_and(|(_, link)| link.starts_with(&format!("{ns}:")))
        })
        .collect()
}

/// Stands in for the service reconciler: a service marked destroy goes,
/// with its deployments, pods and endpoint.
async fn tear_down_services(store: &Store, ns: &str) -> bool {
    let prefix = format!("{ns}:");
    let (services, _) = store.list::<Service>(&prefix).await.unwrap();
    let doomed: Vec<_> = services.iter().filter(|s| s.spec.state.destroy).collect();
    if doomed.is_empty() {
        return false;
    }
    for pod in store.list::<Pod>(&prefix).await.unwrap().0 {
        store.delete(&pod).await.unwrap();
    }
    for deployment in store.list::<Deployment>(&prefix).await.unwrap().0 {
        store.delete(&deployment).await.unwrap();
    }
    for endpoint in store.list::<Endpoint>(&prefix).await.unwrap().0 {
        store.delete(&endpoint).await.unwrap();
    }
    for service in doomed {
        store.delete(service).await.unwrap();
    }
    true
}

#[tokio::test(start_paused = true)]
async fn removing_a_namespace_removes_everything_in_it_and_nothing_else() {
    let (store, _leadership, context) = leading().await;
    fill(&store, "demo").await;
    fill(&store, "demo2").await;
    let before_demo2 = keys_of(&store, "demo2").await;
    assert_eq!(keys_of(&store, "demo").await.len(), 9);
    let running = [
        Running::start(build(&context), 2),
        Running::start(crate::controller::volume::build(&context), 1),
    ];

    // A live namespace is left alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(keys_of(&store, "demo").await.len(), 9);

    let mut demo: Namespace = store.get(&SelfLink::namespace("demo")).await.unwrap();
    demo.status.status = Status::new(State::Destroy);
    store.update(&demo).await.unwrap();

    eventually(
        "the service marked destroy",
        Duration::from_secs(5),
        || async { tear_down_services(&store, "demo").await },
    )
    .await;
    eventually("the namespace gone", Duration::from_secs(10), || async {
        keys_of(&store, "demo").await.is_empty()
    })
    .await;
    assert_eq!(keys_of(&store, "demo2").await, before_demo2);
    let (left, _) = store.list::<Service>("demo2:").await.unwrap();
    assert!(!left[0].spec.state.destroy);
    for running in running {
        running.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_namespace_stays_while_its_services_are_torn_down() {
    let (store, _leadership, context) = leading().await;
    fill(&store, "demo").await;
    let mut demo: Namespace = store.get(&SelfLink::namespace("demo")).await.unwrap();
    demo.status.status = Status::new(State::Destroy);
    store.update(&demo).await.unwrap();
    let running = Running::start(build(&context), 1);

    tokio::time::sleep(Duration::from_secs(10)).await;
    let left = keys_of(&store, "demo").await;
    assert!(left.contains(&"namespace/demo".to_owned()), "{left:?}");
    assert!(left.contains(&"service/demo:web".to_owned()), "{left:?}");
    assert!(!left.contains(&"secret/demo:db".to_owned()), "{left:?}");
    assert!(!left.contains(&"route/demo:www".to_owned()), "{left:?}");
    let volume: Volume = store
        .get(&SelfLink::namespaced(Kind::Volume, "demo", "data"))
        .await
        .unwrap();
    assert!(volume.spec.state.destroy);

    // Once the service reconciler (here: the test) and the volume
    // reconciler (here: the test) are done, the namespace goes.
    assert!(tear_down_services(&store, "demo").await);
    store.delete(&volume).await.unwrap();
    eventually("the namespace gone", Duration::from_secs(5), || async {
        keys_of(&store, "demo").await.is_empty()
    })
    .await;
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_whole_manager_removes_a_namespace_with_a_live_service() {
    use crate::controller::manager::{ControllerManager, Settings};

    let (store, leadership, _) = leading().await;
    store.create(&namespace("demo")).await.unwrap();
    let mut web = in_ns::<Service>(Kind::Service, "demo", "web");
    web.spec.replicas = 0;
    store.create(&web).await.unwrap();
    store
        .create(&in_ns::<Secret>(Kind::Secret, "demo", "db"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Config>(Kind::Config, "demo", "app"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Route>(Kind::Route, "demo", "www"))
        .await
        .unwrap();
    store
        .create(&in_ns::<Volume>(Kind::Volume, "demo", "data"))
        .await
        .unwrap();
    let manager = ControllerManager::new(store.clone(), Settings::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        manager
            .run(leadership, async move {
                let _ = stopped.await;
            })
            .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(keys_of(&store, "demo").await.len() >= 6);

    let mut demo: Namespace = store.get(&SelfLink::namespace("demo")).await.unwrap();
    demo.status.status = Status::new(State::Destroy);
    store.update(&demo).await.unwrap();
    eventually("the namespace gone", Duration::from_secs(30), || async {
        keys_of(&store, "demo").await.is_empty()
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
