//! The API client the host-side daemons (node, ingress, exporter) reach the
//! control plane through: `lastbackend_client::Client`, which implements
//! `ControlPlane` over the API's HTTP routes.

use anyhow::Context;
use lastbackend_client::Client;

use crate::config::TlsFiles;

/// A client of the API at `uri` (`http[s]://host:port`, or `host:port` for
/// plain HTTP) with the access token and TLS files. No request timeout:
/// manifest long-polls last their full wait.
pub(crate) fn api_client(uri: &str, token: Option<&str>, tls: &TlsFiles) -> anyhow::Result<Client> {
    let endpoint = if uri.contains("://") {
        uri.to_owned()
    } else {
        format!("http://{uri}")
    };
    let mut builder = Client::builder().endpoint(&endpoint);
    if let Some(token) = token {
        builder = builder.token(token);
    }
    if let Some(ca) = &tls.ca {
        builder = builder.ca_file(ca);
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        builder = builder.identity(cert, key);
    }
    builder
        .build()
        .with_context(|| format!("--api-uri {uri:?} and the --api-tls-* files"))
}
