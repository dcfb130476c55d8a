//! The views against the docs' examples (§6.1). The docs' text lost its
//! alignment, so each comparison is made twice: exactly against our
//! layout, and word for word against the docs after collapsing spaces.

use chrono::{DateTime, Duration, Utc};
use lastbackend_core::model::{
    ContainerStatus, Deployment, Meta, Namespace, Pod, Route, RouteRule, RouteTls, SelfLink,
    Service, State, Status,
};

use super::*;

/// The docs' text as printed there: one space between words, no blank
/// lines.
fn collapse(text: &str) -> String {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn now() -> DateTime<Utc> {
    "2026-03-10T12:00:00Z".parse().unwrap()
}

fn meta(name: &str, link: &SelfLink, created_days: i64, updated_days: i64) -> Meta {
    Meta {
        created: now() - Duration::days(created_days),
        updated: now() - Duration::days(updated_days),
        ..Meta::new(name, link)
    }
}

#[test]
fn namespace_ls_is_the_docs_table() {
    let demo = Namespace {
        meta: Meta::new("demo", &SelfLink::namespace("demo")),
        ..Namespace::default()
    };
    let out = namespace_list(&[demo]);
    assert_eq!(
        out,
        "NAME  DESCRIPTION  ENDPOINT\n\
         ----  -----------  --------\n\
         demo               demo.lb.local\n"
    );
    assert_eq!(
        collapse(&out),
        "NAME DESCRIPTION ENDPOINT\n---- ----------- --------\ndemo demo.lb.local"
    );
}

#[test]
fn namespace_create_prints_the_docs_block() {
    let test = Namespace {
        meta: Meta::new("test", &SelfLink::namespace("test")),
        ..Namespace::default()
    };
    let out = format!("Namespace `test` is created\n{}", namespace(&test));
    assert_eq!(
        out,
        "Namespace `test` is created\n\
         NAME         test\n\
         DESCRIPTION\n\
         ENDPOINT     test.lb.local\n"
    );
}

fn service_2048(name: &str) -> Service {
    let mut service = Service {
        meta: meta(
            name,
            &SelfLink::namespaced(Kind::Service, "demo", name),
            6,
            5,
        ),
        ..Service::default()
    };
    service.spec.replicas = 2;
    service.status.status = Status::new(State::Ready);
    service
}

#[test]
fn service_ls_is_the_docs_table_with_the_replicas_filled_in() {
    let out = service_list(&[service_2048("2048"), service_2048("proxy")]);
    assert_eq!(
        out,
        "NAME   ENDPOINT             STATUS  REPLICAS\n\
         ----   --------             ------  --------\n\
         2048   2048.demo.lb.local   ready   2\n\
         proxy  proxy.demo.lb.local  ready   2\n"
    );
    // The docs' example leaves REPLICAS empty; we print the count.
    assert_eq!(
        collapse(&out),
        "NAME ENDPOINT STATUS REPLICAS\n\
         ---- -------- ------ --------\n\
         2048 2048.demo.lb.local ready 2\n\
         proxy proxy.demo.lb.local ready 2"
    );
}

fn pod(deployment: &str, name: &str) -> Pod {
    let mut pod = Pod {
        meta: meta(name, &SelfLink::pod("demo", "2048", deployment, name), 5, 5),
        ..Pod::default()
    };
    pod.status.status = Status::new(State::Ready);
    pod.status.ready = true;
    pod.status.containers.insert(
        "nginx".into(),
        ContainerStatus {
            ready: true,
            ..ContainerStatus::default()
        },
    );
    pod
}

#[test]
fn service_inspect_is_the_docs_layout() {
    let mut service = service_2048("2048");
    service.meta.labels = [("type", "proxy"), ("demo", "test")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let mut active = Deployment {
        meta: meta(
            "228d38e",
            &SelfLink::deployment("demo", "2048", "228d38e"),
            6,
            5,
        ),
        ..Deployment::default()
    };
    active.status.status = Status::new(State::Ready);
    let mut old = active.clone();
    old.meta.name = "1a2b3c4".into();
    old.meta.self_link = SelfLink::deployment("demo", "2048", "1a2b3c4").to_string();
    old.status.status = Status::new(State::Destroyed);
    let pods = [
        pod("228d38e", "b62e295"),
        pod("228d38e", "f6a85e8"),
        pod("1a2b3c4", "0ld0ld0"),
    ];
    let out = super::service(&service, &[active, old], &pods, now());
    assert_eq!(
        out,
        "Name:      demo/2048\n\
         State:     ready\n\
         Endpoint:  2048.demo.lb.local\n\
         Created:   6 days ago\n\
         Updated:   5 days ago\n\
         Labels:    demo=test type=proxy\n\
         \n\
         Active deployments:\n\
         \n  \
           Name:     228d38e\n  \
           State:    ready\n  \
           Created:  6 days ago\n  \
           Updated:  5 days ago\n\
         \n  \
           Pods:\n\
         \n  \
           Name     Ready  Status  Restarts  Age\n  \
           ----     -----  ------  --------  ---\n  \
           b62e295  1/1    ready   0         5 days ago\n  \
           f6a85e8  1/1    ready   0         5 days ago\n"
    );
    let docs = "Name: demo/2048
State: ready
Endpoint: 2048.demo.lb.local
Created: 6 days ago
Updated: 5 days ago
Labels: demo=test type=proxy
Active deployments:
Name: 228d38e
State: ready
Created: 6 days ago
Updated: 5 days ago
Pods:
Name Ready Status Restarts Age
---- ----- ------ -------- ---
b62e295 1/1 ready 0 5 days ago
f6a85e8 1/1 ready 0 5 days ago";
    assert_eq!(collapse(&out), docs);
}

fn route_2048(name: &str) -> Route {
    Route {
        meta: Meta::new(name, &SelfLink::namespaced(Kind::Route, "demo", name)),
        spec: lastbackend_core::model::RouteSpec {
            endpoint: format!("{name}.demo.lstbknd.io"),
            port: 80,
            rules: vec![RouteRule {
                path: "/".into(),
                service: "2048".into(),
                port: 80,
            }],
            ..Default::default()
        },
        status: Status::new(State::Created),
    }
}

#[test]
fn route_ls_is_the_docs_table() {
    let out = route_list(&[route_2048("2048"), route_2048("tank")]);
    assert_eq!(
        collapse(&out),
        "NAMESPACE NAME DOMAIN HTTPS STATUS\n\
         --------- ---- ------ ----- ------\n\
         demo 2048 2048.demo.lstbknd.io initialized\n\
         demo tank tank.demo.lstbknd.io initialized"
    );
    assert!(out.starts_with("NAMESPACE  NAME  DOMAIN                HTTPS  STATUS\n"));

    let mut www = route_2048("www");
    www.spec.port = 443;
    let mut secure = route_2048("secure");
    secure.spec.tls = Some(RouteTls {
        secret: Some("secure-tls".into()),
        passthrough: false,
    });
    assert_eq!(
        collapse(&route_list(&[www, secure])),
        "NAMESPACE NAME DOMAIN HTTPS STATUS\n\
         --------- ---- ------ ----- ------\n\
         demo www www.demo.lstbknd.io initialized\n\
         demo secure secure.demo.lstbknd.io yes initialized"
    );
}

#[test]
fn route_inspect_is_the_docs_layout() {
    let out = route(&route_2048("2048"));
    assert_eq!(
        out,
        "NAME       2048\n\
         NAMESPACE  demo\n\
         DOMAIN     2048.demo.lstbknd.io\n\
         PORT       80\n\
         STATUS     initialized\n\
         \n\
         PATH  SERVICE  ENDPOINT            PORT\n\
         ----  -------  --------            ----\n\
         /     2048     2048.demo.lb.local  80\n"
    );
    assert_eq!(
        collapse(&out),
        "NAME 2048\nNAMESPACE demo\nDOMAIN 2048.demo.lstbknd.io\nPORT 80\nSTATUS initialized\n\
         PATH SERVICE ENDPOINT PORT\n---- ------- -------- ----\n/ 2048 2048.demo.lb.local 80"
    );
}

#[test]
fn route_inspect_shows_tls_and_tcp_when_set() {
    let mut www = route_2048("www");
    www.spec.tls = Some(RouteTls {
        secret: Some("www-tls".into()),
        passthrough: false,
    });
    assert_eq!(
        collapse(&route(&www)),
        "NAME www\nNAMESPACE demo\nDOMAIN www.demo.lstbknd.io\nPORT 80\n\
         TLS terminated with secret www-tls\nSTATUS initialized\n\
         PATH SERVICE ENDPOINT PORT\n---- ------- -------- ----\n/ 2048 2048.demo.lb.local 80"
    );
    assert!(route(&www).contains("\nTLS        terminated with secret www-tls\n"));
    www.spec.tls = Some(RouteTls {
        secret: None,
        passthrough: true,
    });
    assert!(collapse(&route(&www)).contains("\nPORT 80\nTLS passthrough\nSTATUS "));
    let mut db = route_2048("db");
    db.spec.tcp = true;
    assert!(collapse(&route(&db)).contains("\nPORT 80\nTCP yes\nSTATUS "));
}

#[test]
fn secrets_show_keys_never_values() {
    let mut secret = lastbackend_core::model::Secret {
        meta: Meta::new("db", &SelfLink::namespaced(Kind::Secret, "demo", "db")),
        ..Default::default()
    };
    secret.spec.kind = lastbackend_core::model::SecretType::Auth;
    secret.spec.data.insert("password".into(), "hunter2".into());
    secret.spec.data.insert("username".into(), "admin".into());
    let out = format!(
        "{}{}",
        secret_list(std::slice::from_ref(&secret)),
        super::secret(&secret)
    );
    assert!(out.contains("db    auth  password, username"));
    assert!(!out.contains("hunter2"));
}
