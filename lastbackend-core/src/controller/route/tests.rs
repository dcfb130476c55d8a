use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::controller::fixtures::{Running, eventually, leading};
use crate::model::{Kind, Meta};
use crate::store::Store;

fn ingress(name: &str, online: bool) -> Ingress {
    let mut ingress = Ingress {
        meta: Meta::new(name, &SelfLink::host(Kind::Ingress, name)),
        ..Ingress::default()
    };
    ingress.status.online = online;
    ingress
}

fn route(name: &str, on: Option<&str>) -> Route {
    let mut route = Route {
        meta: Meta::new(name, &SelfLink::namespaced(Kind::Route, "demo", name)),
        ..Route::default()
    };
    route.spec.ingress = on.map(str::to_owned);
    route
}

/// Routes per ingress, and the unassigned ones under "".
async fn load(store: &Store) -> BTreeMap<String, usize> {
    let (routes, _) = store.list::<Route>("").await.unwrap();
    let mut load = BTreeMap::new();
    for r in routes {
        *load.entry(r.spec.ingress.unwrap_or_default()).or_insert(0) += 1;
    }
    load
}

#[test]
fn the_least_loaded_online_ingress_wins_unless_the_selector_names_one() {
    let ingresses = [ingress("a", true), ingress("b", true), ingress("c", false)];
    let routes = [
        route("r1", Some("a")),
        route("r2", Some("a")),
        route("r3", Some("b")),
    ];
    let new = route("new", None);
    assert_eq!(
        choose_ingress(&new, &ingresses, &routes),
        Ok("b".to_owned())
    );
    assert_eq!(
        choose_ingress(&new, &ingresses, &[]),
        Ok("a".to_owned()),
        "ties: by name"
    );
    assert_eq!(
        choose_ingress(&routes[0], &ingresses, &routes),
        Ok("a".to_owned()),
        "a route stays where it is while that ingress is online"
    );
    let stranded = route("stranded", Some("c"));
    assert_eq!(
        choose_ingress(&stranded, &ingresses, &routes),
        Ok("b".to_owned())
    );

    let mut pinned = route("pinned", None);
    pinned.spec.selector.ingress = Some("a".into());
    assert_eq!(
        choose_ingress(&pinned, &ingresses, &routes),
        Ok("a".to_owned())
    );
    pinned.spec.selector.ingress = Some("c".into());
    assert_eq!(
        choose_ingress(&pinned, &ingresses, &routes),
        Err("ingress c is not online".to_owned())
    );
    assert_eq!(
        choose_ingress(&new, &[ingress("c", false)], &routes),
        Err(NO_INGRESS.to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn routes_spread_over_ingresses_and_move_when_theirs_goes_offline() {
    let (store, _leadership, context) = leading().await;
    for name in ["i1", "i2", "i3"] {
        store.create(&ingress(name, true)).await.unwrap();
    }
    for n in 0..6 {
        store.create(&route(&format!("r{n}"), None)).await.unwrap();
    }
    let running = Running::start(build(&context), 2);

    let even: BTreeMap<String, usize> =
        [("i1".into(), 2), ("i2".into(), 2), ("i3".into(), 2)].into();
    eventually("an even spread", Duration::from_secs(1), || async {
        load(&store).await == even
    })
    .await;

    // i2 goes offline: its routes go to the two others, evenly.
    let mut i2: Ingress = store
        .get(&SelfLink::host(Kind::Ingress, "i2"))
        .await
        .unwrap();
    i2.status.online = false;
    let i2 = store.update(&i2).await.unwrap();
    let moved: BTreeMap<String, usize> = [("i1".into(), 3), ("i3".into(), 3)].into();
    eventually("the move", Duration::from_secs(1), || async {
        load(&store).await == moved
    })
    .await;

    // Every ingress offline: the routes say why and wait.
    for name in ["i1", "i3"] {
        let mut i: Ingress = store
            .get(&SelfLink::host(Kind::Ingress, name))
            .await
            .unwrap();
        i.status.online = false;
        store.update(&i).await.unwrap();
    }
    eventually("the errors", Duration::from_secs(1), || async {
        let (routes, _) = store.list::<Route>("").await.unwrap();
        routes.iter().all(|r| {
            r.spec.ingress.is_none() && r.status == Status::with_message(State::Error, NO_INGRESS)
        })
    })
    .await;

    // One comes back: it takes them all.
    let mut i2 = i2;
    i2.status.online = true;
    store.update(&i2).await.unwrap();
    eventually("the recovery", Duration::from_secs(1), || async {
        load(&store).await == BTreeMap::from([("i2".to_owned(), 6)])
    })
    .await;
    let (routes, _) = store.list::<Route>("").await.unwrap();
    assert!(routes.iter().all(|r| r.status.state == State::Provision));
    running.stop().await;
}
