//! `lb service ...`.

use clap::Subcommand;
use futures::StreamExt;
use lastbackend_core::manifest::Manifest;

use super::namespace::read_manifests;
use super::{Printer, WaitArgs, views, wait};
use crate::Client;

/// `lb service`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List the services of a namespace.
    #[command(visible_alias = "list")]
    Ls {
        /// The namespace.
        namespace: String,
    },
    /// Show a service, its active deployments and their pods.
    Inspect {
        /// The namespace.
        namespace: String,
        /// The service.
        service: String,
    },
    /// Replace a service's spec with a manifest.
    Update {
        /// The namespace.
        namespace: String,
        /// The service.
        service: String,
        /// A `kind: Service` manifest.
        #[arg(short, long)]
        file: std::path::PathBuf,
        /// Make a new deployment even when the template is unchanged.
        #[arg(long)]
        redeploy: bool,
        /// Waiting for the service.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove a service.
    #[command(visible_alias = "rm")]
    Remove {
        /// The namespace.
        namespace: String,
        /// The service.
        service: String,
    },
    /// Print a service's log.
    Logs {
        /// The namespace.
        namespace: String,
        /// The service.
        service: String,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
    },
    /// Set the number of replicas.
    Scale {
        /// The namespace.
        namespace: String,
        /// The service.
        service: String,
        /// How many pods.
        replicas: u32,
        /// Waiting for the service.
        #[command(flatten)]
        wait: WaitArgs,
    },
}

pub(super) async fn run(
    client: &Client,
    out: &Printer,
    command: ServiceCommand,
) -> anyhow::Result<()> {
    match command {
        ServiceCommand::Ls { namespace } => {
            let list = client.namespace(&namespace).services().list().await?;
            out.show(&list.items, || views::service_list(&list.items));
        }
        ServiceCommand::Inspect { namespace, service } => {
            let handle = client.namespace(&namespace).service(&service);
            let found = handle.get().await?;
            let deployments = handle.deployments().await?.items;
            let pods = handle.pods().await?.items;
            out.show(&found, || {
                views::service(&found, &deployments, &pods, chrono::Utc::now())
            });
        }
        ServiceCommand::Update {
            namespace,
            service,
            file,
            redeploy,
            wait,
        } => {
            let manifest = match read_manifests(&file)?.pop() {
                Some(Manifest::Service(manifest)) => manifest,
                _ => anyhow::bail!("{}: expected one `kind: Service` document", file.display()),
            };
            let updated = client
                .namespace(&namespace)
                .service(&service)
                .update(&manifest, redeploy)
                .await?;
            out.show(&updated, || format!("Service `{service}` is updated\n"));
            if wait.wait {
                wait::services(client, out, &namespace, &[service], wait.timeout).await?;
            }
        }
        ServiceCommand::Remove { namespace, service } => {
            let removed = client
                .namespace(&namespace)
                .service(&service)
                .remove()
                .await?;
            out.show(&removed, || format!("Service `{service}` is removed\n"));
        }
        ServiceCommand::Logs {
            namespace,
            service,
            follow,
            tail,
        } => {
            let mut lines = client
                .namespace(&namespace)
                .service(&service)
                .logs(tail, follow)
                .await?;
            while let Some(line) = lines.next().await {
                println!("{}", line?);
            }
        }
        ServiceCommand::Scale {
            namespace,
            service,
            replicas,
            wait,
        } => {
            let scaled = client
                .namespace(&namespace)
                .service(&service)
                .scale(replicas)
                .await?;
            out.show(&scaled, || {
                format!("Service `{service}` is scaled to {replicas} replicas\n")
            });
            if wait.wait {
                wait::services(client, out, &namespace, &[service], wait.timeout).await?;
            }
        }
    }
    Ok(())
}
