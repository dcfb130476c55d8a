//! `lb route`, `lb volume`, `lb node` and `lb cluster`.

use clap::{Args, Subcommand};
use lastbackend_core::manifest::{
    ManifestMeta, RouteManifest, RouteRuleManifest, RouteSpecManifest, RouteTlsManifest,
    SelectorManifest, VolumeCapacityManifest, VolumeManifest, VolumeSpecManifest,
};

use super::{MANIFEST_VERSION, Printer, views};
use crate::Client;

/// A route's listener and rules.
#[derive(Clone, Debug, Args)]
pub struct RouteArgs {
    /// The external port the ingress listens on.
    #[arg(short, long, default_value_t = 80)]
    pub port: u16,
    /// The domain it answers for (the server derives one when absent).
    #[arg(short, long)]
    pub domain: Option<String>,
    /// Rules `<service>:<port>[/<path>]`: requests under the path (default
    /// `/`) go to the service's port.
    #[arg(required = true, value_name = "SERVICE:PORT", value_parser = parse_rule)]
    pub rules: Vec<RouteRuleManifest>,
    /// Terminate TLS on the port with this secret of the namespace (keys
    /// `tls.crt` and `tls.key`, PEM), then route HTTP by domain and path.
    /// Until the secret exists the route's status is `error`, naming it.
    #[arg(long, value_name = "SECRET", conflicts_with_all = ["tls_passthrough", "tcp"])]
    pub tls_secret: Option<String>,
    /// Pass TLS through untouched to the one rule's service, chosen by SNI
    /// (the domain); the service holds the certificate.
    #[arg(long, conflicts_with = "tcp")]
    pub tls_passthrough: bool,
    /// Plain TCP: every connection on the port goes to the one rule's
    /// service; domain and path are not looked at.
    #[arg(long)]
    pub tcp: bool,
}

fn parse_rule(text: &str) -> Result<RouteRuleManifest, String> {
    let invalid = || format!("{text:?}: expected <service>:<port>[/<path>]");
    let (service, rest) = text.split_once(':').ok_or_else(invalid)?;
    let (port, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    if service.is_empty() {
        return Err(invalid());
    }
    Ok(RouteRuleManifest {
        service: service.to_owned(),
        path: path.to_owned(),
        port: Some(u32::from(port)),
    })
}

impl RouteArgs {
    pub(super) fn manifest(self, name: &str) -> RouteManifest {
        RouteManifest {
            meta: ManifestMeta {
                name: name.to_owned(),
                ..ManifestMeta::default()
            },
            spec: RouteSpecManifest {
                port: u32::from(self.port),
                endpoint: self.domain,
                rules: self.rules,
                tls: (self.tls_secret.is_some() || self.tls_passthrough).then_some(
                    RouteTlsManifest {
                        secret: self.tls_secret,
                        passthrough: self.tls_passthrough,
                    },
                ),
                tcp: self.tcp,
                ..RouteSpecManifest::default()
            },
            version: MANIFEST_VERSION.to_owned(),
        }
    }
}

/// `lb route`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// List the routes of a namespace.
    #[command(visible_alias = "list")]
    Ls {
        /// The namespace.
        namespace: String,
    },
    /// Show a route and its rules.
    Inspect {
        /// The namespace.
        namespace: String,
        /// The route.
        name: String,
    },
    /// Create a route: `lb route create demo test -p 443 --tls-secret test-tls
    /// 2048:80`.
    Create {
        /// The namespace.
        namespace: String,
        /// The route.
        name: String,
        /// Listener and rules.
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Replace a route's listener, rules, TLS and TCP: flags left out are
    /// dropped, so repeat `--tls-secret`, `--tls-passthrough` or `--tcp` to
    /// keep them.
    Update {
        /// The namespace.
        namespace: String,
        /// The route.
        name: String,
        /// Listener and rules.
        #[command(flatten)]
        route: RouteArgs,
    },
    /// Remove a route.
    #[command(visible_alias = "rm")]
    Remove {
        /// The namespace.
        namespace: String,
        /// The route.
        name: String,
    },
}

/// `lb volume`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List the volumes of a namespace.
    #[command(visible_alias = "list")]
    Ls {
        /// The namespace.
        namespace: String,
    },
    /// Show a volume.
    Inspect {
        /// The namespace.
        namespace: String,
        /// The volume.
        name: String,
    },
    /// Create a volume.
    Create {
        /// The namespace.
        namespace: String,
        /// The volume.
        name: String,
        /// Its size (`1GB`, `512MiB`).
        #[arg(long)]
        capacity: Option<String>,
        /// The node to hold it.
        #[arg(long)]
        node: Option<String>,
    },
    /// Remove a volume and its data.
    #[command(visible_alias = "rm")]
    Remove {
        /// The namespace.
        namespace: String,
        /// The volume.
        name: String,
    },
}

/// `lb node`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the cluster's nodes.
    #[command(visible_alias = "list")]
    Ls,
    /// Show a node: drivers, capacity and what is allocated.
    Inspect {
        /// Its hostname.
        name: String,
    },
}

/// `lb cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the cluster: nodes, ingresses, discoveries and resources.
    Inspect,
}

pub(super) async fn run_route(
    client: &Client,
    out: &Printer,
    command: RouteCommand,
) -> anyhow::Result<()> {
    match command {
        RouteCommand::Ls { namespace } => {
            let list = client.namespace(&namespace).routes().list().await?;
            out.show(&list.items, || views::route_list(&list.items));
        }
        RouteCommand::Inspect { namespace, name } => {
            let route = client.namespace(&namespace).route(&name).get().await?;
            out.show(&route, || views::route(&route));
        }
        RouteCommand::Create {
            namespace,
            name,
            route,
        } => {
            let manifest = route.manifest(&name);
            let route = client
                .namespace(&namespace)
                .routes()
                .create(&manifest)
                .await?;
            out.show(&route, || views::route(&route));
        }
        RouteCommand::Update {
            namespace,
            name,
            route,
        } => {
            let manifest = route.manifest(&name);
            let route = client
                .namespace(&namespace)
                .route(&name)
                .update(&manifest)
                .await?;
            out.show(&route, || views::route(&route));
        }
        RouteCommand::Remove { namespace, name } => {
            let route = client.namespace(&namespace).route(&name).remove().await?;
            out.show(&route, || format!("Route `{name}` is removed\n"));
        }
    }
    Ok(())
}

pub(super) async fn run_volume(
    client: &Client,
    out: &Printer,
    command: VolumeCommand,
) -> anyhow::Result<()> {
    match command {
        VolumeCommand::Ls { namespace } => {
            let list = client.namespace(&namespace).volumes().list().await?;
            out.show(&list.items, || views::volume_list(&list.items));
        }
        VolumeCommand::Inspect { namespace, name } => {
            let volume = client.namespace(&namespace).volume(&name).get().await?;
            out.show(&volume, || views::volume(&volume));
        }
        VolumeCommand::Create {
            namespace,
            name,
            capacity,
            node,
        } => {
            let manifest = VolumeManifest {
                meta: ManifestMeta {
                    name: name.clone(),
                    ..ManifestMeta::default()
                },
                spec: VolumeSpecManifest {
                    selector: SelectorManifest {
                        node,
                        ..SelectorManifest::default()
                    },
                    capacity: VolumeCapacityManifest { storage: capacity },
                    ..VolumeSpecManifest::default()
                },
                version: MANIFEST_VERSION.to_owned(),
            };
            let volume = client
                .namespace(&namespace)
                .volumes()
                .create(&manifest)
                .await?;
            out.show(&volume, || {
                format!("Volume `{name}` is created\n{}", views::volume(&volume))
            });
        }
        VolumeCommand::Remove { namespace, name } => {
            let volume = client.namespace(&namespace).volume(&name).remove().await?;
            out.show(&volume, || format!("Volume `{name}` is removed\n"));
        }
    }
    Ok(())
}

pub(super) async fn run_node(
    client: &Client,
    out: &Printer,
    command: NodeCommand,
) -> anyhow::Result<()> {
    match command {
        NodeCommand::Ls => {
            let list = client.cluster().nodes().list().await?;
            out.show(&list.items, || views::node_list(&list.items));
        }
        NodeCommand::Inspect { name } => {
            let node = client.cluster().node(&name).get().await?;
            out.show(&node, || views::node(&node));
        }
    }
    Ok(())
}

pub(super) async fn run_cluster(
    client: &Client,
    out: &Printer,
    command: ClusterCommand,
) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Inspect => {
            let cluster = client.cluster().get().await?;
            out.show(&cluster, || views::cluster(&cluster));
        }
    }
    Ok(())
}
