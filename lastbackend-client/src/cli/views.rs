//! What `lb` prints for each object, as the docs (§6.1) show it. Pure
//! functions of the objects and the current time.

use chrono::{DateTime, Utc};
use lastbackend_core::model::{
    Cluster, Config, Deployment, Kind, Labels, Namespace, Node, Pod, Route, RouteTls, Secret,
    SelfLink, Service, State, Volume,
};

use super::table::{ago, fields, indent, table};

/// The internal zone when the namespace does not name its own.
pub(crate) const ZONE: &str = "lb.local";

fn labels(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `lb namespace ls`.
pub(crate) fn namespace_list(namespaces: &[Namespace]) -> String {
    let rows: Vec<_> = namespaces
        .iter()
        .map(|ns| {
            [
                ns.meta.name.clone(),
                ns.meta.description.clone(),
                ns.endpoint(ZONE),
            ]
        })
        .collect();
    table(["NAME", "DESCRIPTION", "ENDPOINT"], &rows)
}

/// `lb namespace inspect` and the block after create and update.
pub(crate) fn namespace(ns: &Namespace) -> String {
    fields(&[
        ("NAME", ns.meta.name.clone()),
        ("DESCRIPTION", ns.meta.description.clone()),
        ("ENDPOINT", ns.endpoint(ZONE)),
    ])
}

fn service_endpoint(service: &Service) -> String {
    match &service.status.endpoint {
        endpoint if !endpoint.is_empty() => endpoint.clone(),
        _ => format!(
            "{}.{}.{ZONE}",
            service.meta.name,
            service.meta.namespace.as_deref().unwrap_or_default()
        ),
    }
}

/// `lb service ls <ns>`.
pub(crate) fn service_list(services: &[Service]) -> String {
    let rows: Vec<_> = services
        .iter()
        .map(|service| {
            [
                service.meta.name.clone(),
                service_endpoint(service),
                service.status.status.state.to_string(),
                service.spec.replicas.to_string(),
            ]
        })
        .collect();
    table(["NAME", "ENDPOINT", "STATUS", "REPLICAS"], &rows)
}

fn owned_by(pod: &Pod, deployment: &Deployment) -> bool {
    SelfLink::parse(Kind::Pod, &pod.meta.self_link)
        .ok()
        .and_then(|link| link.parent())
        .is_some_and(|parent| parent.to_string() == deployment.meta.self_link)
}

/// `lb service inspect <ns> <svc>`: the service, its active deployments and
/// their pods.
pub(crate) fn service(
    service: &Service,
    deployments: &[Deployment],
    pods: &[Pod],
    now: DateTime<Utc>,
) -> String {
    let namespace = service.meta.namespace.as_deref().unwrap_or_default();
    let mut out = fields(&[
        ("Name:", format!("{namespace}/{}", service.meta.name)),
        ("State:", service.status.status.state.to_string()),
        ("Endpoint:", service_endpoint(service)),
        ("Created:", ago(service.meta.created, now)),
        ("Updated:", ago(service.meta.updated, now)),
        ("Labels:", labels(&service.meta.labels)),
    ]);
    if !service.status.status.message.is_empty() {
        out.push_str(&fields(&[(
            "Message:",
            service.status.status.message.clone(),
        )]));
    }
    out.push_str("\nActive deployments:\n");
    for deployment in deployments
        .iter()
        .filter(|d| !d.status.status.state.is_terminating())
    {
        out.push('\n');
        out.push_str(&indent(
            &fields(&[
                ("Name:", deployment.meta.name.clone()),
                ("State:", deployment.status.status.state.to_string()),
                ("Created:", ago(deployment.meta.created, now)),
                ("Updated:", ago(deployment.meta.updated, now)),
            ]),
            2,
        ));
        let rows: Vec<_> = pods
            .iter()
            .filter(|pod| owned_by(pod, deployment))
            .map(|pod| pod_row(pod, now))
            .collect();
        out.push_str("\n  Pods:\n\n");
        out.push_str(&indent(
            &table(["Name", "Ready", "Status", "Restarts", "Age"], &rows),
            2,
        ));
    }
    out
}

fn pod_row(pod: &Pod, now: DateTime<Utc>) -> [String; 5] {
    let containers = &pod.status.containers;
    let total = match containers.len() {
        0 => pod.spec.template.containers.len(),
        n => n,
    };
    let ready = containers.values().filter(|c| c.ready).count();
    let restarts: u32 = containers.values().map(|c| c.restarts).sum();
    [
        pod.meta.name.clone(),
        format!("{ready}/{total}"),
        pod.status.status.state.to_string(),
        restarts.to_string(),
        ago(pod.meta.created, now),
    ]
}

fn route_status(route: &Route) -> String {
    match route.status.state {
        // The original called a route no ingress has taken yet "initialized".
        State::Created => "initialized".to_owned(),
        state => state.to_string(),
    }
}

/// `lb route ls <ns>`.
pub(crate) fn route_list(routes: &[Route]) -> String {
    let rows: Vec<_> = routes
        .iter()
        .map(|route| {
            [
                route.meta.namespace.clone().unwrap_or_default(),
                route.meta.name.clone(),
                route.spec.endpoint.clone(),
                // By TLS, not port 443: the ingress serves a route on 443
                // without TLS as plain HTTP.
                if route.spec.tls.is_some() { "yes" } else { "" }.to_owned(),
                route_status(route),
            ]
        })
        .collect();
    table(["NAMESPACE", "NAME", "DOMAIN", "HTTPS", "STATUS"], &rows)
}

/// `lb route inspect <ns> <route>` and the block after create and update.
pub(crate) fn route(route: &Route) -> String {
    let namespace = route.meta.namespace.clone().unwrap_or_default();
    let mut pairs = vec![
        ("NAME", route.meta.name.clone()),
        ("NAMESPACE", namespace.clone()),
        ("DOMAIN", route.spec.endpoint.clone()),
        ("PORT", route.spec.port.to_string()),
    ];
    // Only when set, so plain HTTP routes keep the docs' layout.
    match &route.spec.tls {
        Some(RouteTls {
            secret: Some(secret),
            ..
        }) => pairs.push(("TLS", format!("terminated with secret {secret}"))),
        Some(RouteTls {
            passthrough: true, ..
        }) => pairs.push(("TLS", "passthrough".to_owned())),
        _ => {}
    }
    if route.spec.tcp {
        pairs.push(("TCP", "yes".to_owned()));
    }
    pairs.push(("STATUS", route_status(route)));
    let mut out = fields(&pairs);
    let rows: Vec<_> = route
        .spec
        .rules
        .iter()
        .map(|rule| {
            [
                rule.path.clone(),
                rule.service.clone(),
                format!("{}.{namespace}.{ZONE}", rule.service),
                rule.port.to_string(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(["PATH", "SERVICE", "ENDPOINT", "PORT"], &rows));
    out
}

fn keys<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn kind_name<T: serde::Serialize>(kind: &T) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `lb secret ls <ns>`: names, types and keys, never the values.
pub(crate) fn secret_list(secrets: &[Secret]) -> String {
    let rows: Vec<_> = secrets
        .iter()
        .map(|s| {
            [
                s.meta.name.clone(),
                kind_name(&s.spec.kind),
                keys(s.spec.data.keys()),
            ]
        })
        .collect();
    table(["NAME", "TYPE", "KEYS"], &rows)
}

/// `lb secret inspect <ns> <name>`.
pub(crate) fn secret(secret: &Secret) -> String {
    fields(&[
        ("NAME", secret.meta.name.clone()),
        (
            "NAMESPACE",
            secret.meta.namespace.clone().unwrap_or_default(),
        ),
        ("TYPE", kind_name(&secret.spec.kind)),
        ("KEYS", keys(secret.spec.data.keys())),
    ])
}

/// `lb config ls <ns>`.
pub(crate) fn config_list(configs: &[Config]) -> String {
    let rows: Vec<_> = configs
        .iter()
        .map(|c| {
            [
                c.meta.name.clone(),
                kind_name(&c.spec.kind),
                keys(c.spec.data.keys()),
            ]
        })
        .collect();
    table(["NAME", "TYPE", "KEYS"], &rows)
}

/// `lb config inspect <ns> <name>`: the keys, then each value.
pub(crate) fn config(config: &Config) -> String {
    let mut out = fields(&[
        ("NAME", config.meta.name.clone()),
        (
            "NAMESPACE",
            config.meta.namespace.clone().unwrap_or_default(),
        ),
        ("TYPE", kind_name(&config.spec.kind)),
        ("KEYS", keys(config.spec.data.keys())),
    ]);
    for (key, value) in &config.spec.data {
        out.push_str(&format!("\n{key}:\n{}", indent(value, 2)));
    }
    out
}

/// `lb volume ls <ns>`.
pub(crate) fn volume_list(volumes: &[Volume]) -> String {
    let rows: Vec<_> = volumes
        .iter()
        .map(|v| {
            [
                v.meta.name.clone(),
                kind_name(&v.spec.kind),
                v.spec.capacity.map(|c| c.to_string()).unwrap_or_default(),
                v.spec.node.clone().unwrap_or_default(),
                v.status.status.state.to_string(),
            ]
        })
        .collect();
    table(["NAME", "TYPE", "CAPACITY", "NODE", "STATUS"], &rows)
}

/// `lb volume inspect <ns> <name>`.
pub(crate) fn volume(volume: &Volume) -> String {
    fields(&[
        ("NAME", volume.meta.name.clone()),
        (
            "NAMESPACE",
            volume.meta.namespace.clone().unwrap_or_default(),
        ),
        ("TYPE", kind_name(&volume.spec.kind)),
        (
            "CAPACITY",
            volume
                .spec
                .capacity
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ),
        ("ACCESS MODE", kind_name(&volume.spec.access_mode)),
        ("NODE", volume.spec.node.clone().unwrap_or_default()),
        ("PATH", volume.status.path.clone()),
        ("STATUS", volume.status.status.state.to_string()),
    ])
}

fn online(online: bool) -> String {
    if online { "online" } else { "offline" }.to_owned()
}

fn ip(ip: Option<std::net::IpAddr>) -> String {
    ip.map(|ip| ip.to_string()).unwrap_or_default()
}

/// `lb node ls`.
pub(crate) fn node_list(nodes: &[Node]) -> String {
    let rows: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (used, capacity) = (&n.status.allocated, &n.status.capacity);
            [
                n.meta.name.clone(),
                ip(n.info.external_ip),
                ip(n.info.internal_ip),
                online(n.status.online),
                format!("{}/{}", used.pods, capacity.pods),
                format!("{}/{}", used.ram, capacity.ram),
                format!("{}/{}", used.cpu, capacity.cpu),
            ]
        })
        .collect();
    table(
        [
            "NAME",
            "EXTERNAL IP",
            "INTERNAL IP",
            "STATUS",
            "PODS",
            "RAM",
            "CPU",
        ],
        &rows,
    )
}

/// `lb node inspect <node>`.
pub(crate) fn node(node: &Node) -> String {
    let (used, capacity) = (&node.status.allocated, &node.status.capacity);
    let drivers = &node.status.state;
    let driver = |d: &lastbackend_core::model::DriverState| {
        let state = if d.ready { "ready" } else { "not ready" };
        format!("{} {} {state}", d.kind, d.version)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    fields(&[
        ("NAME", node.meta.name.clone()),
        ("STATUS", online(node.status.online)),
        ("ARCHITECTURE", node.info.architecture.clone()),
        ("OS", format!("{} {}", node.info.os_name, node.info.os_type)),
        ("EXTERNAL IP", ip(node.info.external_ip)),
        ("INTERNAL IP", ip(node.info.internal_ip)),
        ("SUBNET", node.info.subnet.clone().unwrap_or_default()),
        ("LABELS", labels(&node.meta.labels)),
        ("PODS", format!("{}/{}", used.pods, capacity.pods)),
        ("RAM", format!("{}/{}", used.ram, capacity.ram)),
        ("CPU", format!("{}/{}", used.cpu, capacity.cpu)),
        ("STORAGE", format!("{}/{}", used.storage, capacity.storage)),
        ("CRI", driver(&drivers.cri)),
        ("CNI", driver(&drivers.cni)),
        ("CPI", driver(&drivers.cpi)),
        ("CSI", driver(&drivers.csi)),
    ])
}

/// `lb cluster inspect`.
pub(crate) fn cluster(cluster: &Cluster) -> String {
    let status = &cluster.status;
    let count = |c: &lastbackend_core::model::MemberCount| {
        format!("{} ({} online, {} offline)", c.total, c.online, c.offline)
    };
    fields(&[
        ("NAME", cluster.meta.name.clone()),
        ("DESCRIPTION", cluster.meta.description.clone()),
        ("NODES", count(&status.nodes)),
        ("INGRESS", count(&status.ingress)),
        ("DISCOVERY", count(&status.discovery)),
        (
            "RAM",
            format!("{}/{}", status.allocated.ram, status.capacity.ram),
        ),
        (
            "CPU",
            format!("{}/{}", status.allocated.cpu, status.capacity.cpu),
        ),
        (
            "PODS",
            format!("{}/{}", status.allocated.pods, status.capacity.pods),
        ),
    ])
}

#[cfg(test)]
mod tests;
