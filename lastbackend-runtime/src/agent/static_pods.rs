//! Static pods: the manifest directory (`--manifest-path`) holds YAML files,
//! each one `kind: Service` document of the external format. The agent runs
//! its template as one pod named `static:<service name>`, whatever the
//! cluster says and without reporting it. Replicas, selectors and network
//! settings of the document are ignored; environment comes from literal
//! values only (there is no namespace to read secrets from).

use std::path::Path;

use lastbackend_core::api::service_spec;
use lastbackend_core::manifest::{self, Manifest};

use super::plan::Wanted;

/// The prefix of static pods' selflinks.
pub const STATIC_PREFIX: &str = "static:";

/// Why a manifest file cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StaticPodError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not one valid Service document.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads every `*.yaml`, `*.yml` and `*.json` file of `dir`, sorted by
/// name; a bad file is reported and skipped, the others still run.
pub(crate) fn load(dir: &Path) -> (Vec<Wanted>, Vec<StaticPodError>) {
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(StaticPodError::Read {
                path: dir.display().to_string(),
                source,
            });
            return (pods, errors);
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    for file in files {
        match load_file(&file) {
            Ok(pod) if pods.iter().any(|p: &Wanted| p.link == pod.link) => {
                errors.push(StaticPodError::Invalid {
                    path: file.display().to_string(),
                    message: format!("a static pod named {} exists already", pod.link),
                });
            }
            Ok(pod) => pods.push(pod),
            Err(e) => errors.push(e),
        }
    }
    (pods, errors)
}

fn load_file(file: &Path) -> Result<Wanted, StaticPodError> {
    let path = file.display().to_string();
    let invalid = |message: String| StaticPodError::Invalid {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|source| StaticPodError::Read {
        path: path.clone(),
        source,
    })?;
    let manifests = manifest::parse(&text).map_err(|e| invalid(e.to_string()))?;
    let [Manifest::Service(service)] = manifests.as_slice() else {
        return Err(invalid(
            "expected exactly one document of kind Service".to_owned(),
        ));
    };
    let spec = service_spec(service).map_err(|e| invalid(e.to_string()))?;
    Ok(Wanted {
        link: format!("{STATIC_PREFIX}{}", service.meta.name),
        template: spec.template,
        is_static: true,
    })
}
