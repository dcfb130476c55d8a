//! `haproxy.cfg` from a [`Layout`], written by typed code: every value that
//! reaches the file was checked by the planner or the settings, and a write
//! error is an error (the original's template swallowed its own).

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::path::PathBuf;

use super::HaproxySettings;
use crate::ingress::plan::{Layout, PathRule, PortKind, RoutePlan};

/// Renders the whole configuration. `certificates` maps a route's selflink
/// to the PEM file written for it.
pub(crate) fn render(
    settings: &HaproxySettings,
    layout: &Layout,
    certificates: &BTreeMap<String, PathBuf>,
) -> Result<String, fmt::Error> {
    let mut out = String::new();
    global(&mut out, settings)?;
    for (port, (kind, routes)) in &layout.ports {
        frontend(&mut out, settings, *port, *kind, routes, certificates)?;
    }
    for route in layout.ports.values().flat_map(|(_, routes)| routes) {
        for backend in &route.backends {
            writeln!(out, "\nbackend {}", backend.name)?;
            writeln!(out, "  mode {}", if backend.http { "http" } else { "tcp" })?;
            writeln!(out, "  balance roundrobin")?;
            // Every retried connect goes to another pod, not the one that
            // failed (a plain `option redispatch` moves only on the last of
            // the retries): a lost node's pods cost one connect timeout.
            writeln!(out, "  option redispatch 1")?;
            writeln!(out, "  retries 3")?;
            if backend.http {
                writeln!(out, "  retry-on conn-failure empty-response")?;
            }
            // A pod that refuses or drops a connection is out at once (a
            // lost node's pods stay listed until the controller notices);
            // the health check brings it back.
            writeln!(
                out,
                "  default-server check inter 2s fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down"
            )?;
            for (i, server) in backend.servers.iter().enumerate() {
                writeln!(out, "  server s{i} {server}")?;
            }
        }
    }
    Ok(out)
}

fn global(out: &mut String, settings: &HaproxySettings) -> fmt::Result {
    writeln!(
        out,
        "# Written by lastbackend ingress; edits are overwritten."
    )?;
    writeln!(out, "global")?;
    writeln!(out, "  log stderr format raw local0 err")?;
    // Hands the listening sockets to the next worker on reload, so no
    // connection is refused while HAProxy reloads.
    writeln!(
        out,
        "  stats socket {} mode 600 level admin expose-fd listeners",
        settings.admin_socket().display()
    )?;
    // An old worker finishes its connections, but not forever.
    writeln!(
        out,
        "  hard-stop-after {}s",
        settings.hard_stop_after.as_secs().max(1)
    )?;
    writeln!(out, "\ndefaults")?;
    writeln!(out, "  log global")?;
    // Pods are on the cluster network, where a live pod answers a connect
    // in well under a millisecond; a connect that hangs is to a pod on a
    // lost node, and waiting 5 s for it stalls the request past what a
    // client waits (the node-loss drill saw 3 of 100 requests time out at
    // 2 s). Half a second, redispatched to another pod, keeps it short.
    writeln!(out, "  timeout connect 500ms")?;
    writeln!(out, "  timeout client 60s")?;
    writeln!(out, "  timeout server 60s")?;
    writeln!(out, "  timeout http-keep-alive 60s")?;
    writeln!(out, "  timeout http-request 15s")?;
    if let Some(stats) = &settings.stats {
        writeln!(out, "\nlisten stats")?;
        writeln!(out, "  mode http")?;
        writeln!(out, "  bind {}:{}", stats.address, stats.port)?;
        writeln!(out, "  stats enable")?;
        writeln!(out, "  stats uri /stats")?;
        writeln!(out, "  stats refresh 10s")?;
        if let Some((user, password)) = &stats.credentials {
            writeln!(out, "  stats realm lastbackend")?;
            writeln!(out, "  stats auth {user}:{password}")?;
        }
    }
    Ok(())
}

fn frontend(
    out: &mut String,
    settings: &HaproxySettings,
    port: u16,
    kind: PortKind,
    routes: &[RoutePlan],
    certificates: &BTreeMap<String, PathBuf>,
) -> fmt::Result {
    writeln!(out, "\nfrontend port_{port}")?;
    let http = matches!(kind, PortKind::Http | PortKind::Https);
    writeln!(out, "  mode {}", if http { "http" } else { "tcp" })?;
    write!(out, "  bind {}:{port}", settings.bind_address)?;
    if let Some(interface) = &settings.interface {
        write!(out, " interface {interface}")?;
    }
    if kind == PortKind::Https {
        write!(out, " ssl")?;
        for route in routes {
            if let Some(file) = certificates.get(&route.link) {
                write!(out, " crt {}", file.display())?;
            }
        }
    }
    writeln!(out)?;
    match kind {
        PortKind::Http | PortKind::Https => {
            // A request on an idle keep-alive connection during a reload is
            // answered (with `Connection: close`), not cut.
            writeln!(out, "  option idle-close-on-response")?;
            writeln!(out, "  option http-keep-alive")?;
            writeln!(out, "  option forwardfor")?;
            writeln!(
                out,
                "  http-request set-var(txn.host) req.hdr(host),field(1,:),lower"
            )?;
            // Longest prefix first, `/` last, whichever route holds it.
            let mut rules: Vec<(&RoutePlan, &PathRule)> = routes
                .iter()
                .flat_map(|r| r.rules.iter().map(move |p| (r, p)))
                .collect();
            rules.sort_by_key(|(_, rule)| std::cmp::Reverse(rule.path.len()));
            for (route, rule) in rules {
                let backend = &route.backends[rule.backend].name;
                let host = format!("{{ var(txn.host) -m str {} }}", route.host);
                match rule.path.as_str() {
                    "/" => writeln!(out, "  use_backend {backend} if {host}")?,
                    path if path.ends_with('/') => writeln!(
                        out,
                        "  use_backend {backend} if {host} {{ path_beg {path} }}"
                    )?,
                    path => writeln!(
                        out,
                        "  use_backend {backend} if {host} {{ path -m str {path} }} || {host} {{ path_beg {path}/ }}"
                    )?,
                }
            }
        }
        PortKind::Passthrough => {
            writeln!(out, "  tcp-request inspect-delay 5s")?;
            writeln!(
                out,
                "  tcp-request content accept if {{ req.ssl_hello_type 1 }}"
            )?;
            for route in routes {
                writeln!(
                    out,
                    "  use_backend {} if {{ req.ssl_sni -i {} }}",
                    route.backends[0].name, route.host
                )?;
            }
        }
        PortKind::Tcp => {
            writeln!(out, "  default_backend {}", routes[0].backends[0].name)?;
        }
    }
    Ok(())
}
