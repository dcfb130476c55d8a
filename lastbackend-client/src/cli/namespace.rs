//! `lb namespace ...`.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use lastbackend_core::api::types::{ApplyAction, ApplyReport};
use lastbackend_core::manifest::{self, Manifest, ManifestMeta, NamespaceManifest};

use super::{FileArgs, MANIFEST_VERSION, Printer, WaitArgs, views, wait};
use crate::{ApplyOptions, Client};

/// `lb namespace`.
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// List namespaces.
    #[command(visible_alias = "list")]
    Ls,
    /// Create a namespace.
    Create {
        /// Its name.
        name: String,
        /// A description.
        #[arg(long = "desc")]
        description: Option<String>,
    },
    /// Show a namespace.
    Inspect {
        /// Its name.
        name: String,
    },
    /// Change a namespace's description, or replace it with a manifest.
    Update {
        /// Its name.
        name: String,
        /// A new description.
        #[arg(long = "desc", conflicts_with = "file")]
        description: Option<String>,
        /// A `kind: Namespace` manifest.
        #[arg(short, long)]
        file: Option<std::path::PathBuf>,
    },
    /// Remove a namespace and everything in it.
    #[command(visible_alias = "rm")]
    Remove {
        /// Its name.
        name: String,
    },
    /// Create or update everything the manifest files describe, all or
    /// nothing.
    Apply {
        /// The namespace.
        namespace: String,
        /// The manifests.
        #[command(flatten)]
        files: FileArgs,
        /// Check and report what would change, changing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Make new deployments even for unchanged services.
        #[arg(long)]
        redeploy: bool,
        /// Waiting for the services.
        #[command(flatten)]
        wait: WaitArgs,
    },
}

pub(super) async fn run(
    client: &Client,
    out: &Printer,
    command: NamespaceCommand,
) -> anyhow::Result<()> {
    match command {
        NamespaceCommand::Ls => {
            let list = client.namespaces().list().await?;
            out.show(&list.items, || views::namespace_list(&list.items));
        }
        NamespaceCommand::Create { name, description } => {
            let manifest = NamespaceManifest {
                meta: ManifestMeta {
                    name: name.clone(),
                    description,
                    ..ManifestMeta::default()
                },
                version: MANIFEST_VERSION.to_owned(),
                ..NamespaceManifest::default()
            };
            let ns = client.namespaces().create(&manifest).await?;
            out.show(&ns, || {
                format!("Namespace `{name}` is created\n{}", views::namespace(&ns))
            });
        }
        NamespaceCommand::Inspect { name } => {
            let ns = client.namespace(&name).get().await?;
            out.show(&ns, || views::namespace(&ns));
        }
        NamespaceCommand::Update {
            name,
            description,
            file,
        } => {
            let handle = client.namespace(&name);
            let manifest = match file {
                Some(file) => match read_manifests(&file)?.pop() {
                    Some(Manifest::Namespace(manifest)) => manifest,
                    _ => anyhow::bail!(
                        "{}: expected one `kind: Namespace` document",
                        file.display()
                    ),
                },
                None => {
                    // Only the description changes: keep the rest as stored.
                    let current = handle.get().await?;
                    NamespaceManifest {
                        meta: ManifestMeta {
                            name: name.clone(),
                            description: description.or(Some(current.meta.description)),
                            labels: current.meta.labels,
                        },
                        version: MANIFEST_VERSION.to_owned(),
                        ..NamespaceManifest::default()
                    }
                }
            };
            let ns = handle.update(&manifest).await?;
            out.show(&ns, || {
                format!("Namespace `{name}` is updated\n{}", views::namespace(&ns))
            });
        }
        NamespaceCommand::Remove { name } => {
            let ns = client.namespace(&name).remove().await?;
            out.show(&ns, || format!("Namespace `{name}` is removed\n"));
        }
        NamespaceCommand::Apply {
            namespace,
            files,
            dry_run,
            redeploy,
            wait,
        } => {
            let mut manifests = Vec::new();
            for file in &files.files {
                manifests.extend(read_manifests(file)?);
            }
            let report = client
                .namespace(&namespace)
                .apply(manifests, ApplyOptions { dry_run, redeploy })
                .await?;
            out.show(&report, || apply_report(&report));
            if wait.wait && !dry_run {
                let services: Vec<String> = report
                    .items
                    .iter()
                    .filter(|item| item.kind == "Service")
                    .map(|item| item.name.clone())
                    .collect();
                wait::services(client, out, &namespace, &services, wait.timeout).await?;
            }
        }
    }
    Ok(())
}

/// Parses a manifest file and reads the files its configs name, relative
/// to the manifest.
pub(super) fn read_manifests(file: &Path) -> anyhow::Result<Vec<Manifest>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut manifests =
        manifest::parse(&text).with_context(|| format!("{} is invalid", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new(""));
    for manifest in &mut manifests {
        manifest.resolve_files(dir, |path| std::fs::read_to_string(path))?;
    }
    Ok(manifests)
}

/// `Service \`2048\` is created`, one line per document.
pub(super) fn apply_report(report: &ApplyReport) -> String {
    let mut out = String::new();
    for item in &report.items {
        let action = match item.action {
            ApplyAction::Created => "created",
            ApplyAction::Updated => "updated",
            ApplyAction::Unchanged => "unchanged",
        };
        let verb = if report.dry_run { "would be" } else { "is" };
        out.push_str(&format!("{} `{}` {verb} {action}\n", item.kind, item.name));
    }
    out
}
