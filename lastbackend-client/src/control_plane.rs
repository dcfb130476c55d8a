//! [`ControlPlane`] over HTTP: what node agents, ingresses, discovery
//! servers and exporters ask of the API, on the routes `lastbackend api`
//! serves (`/cluster/node/{name}`, `/ingress/{name}`, …).
//!
//! An API error becomes [`ControlPlaneError::Rejected`] with its status
//! code and message; a failed request or an undecodable answer becomes
//! [`ControlPlaneError::Unreachable`]. Long-polls last as long as `wait`
//! plus the API's answer: give the client no timeout shorter than that.

use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use lastbackend_core::api::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use lastbackend_core::api::{ControlPlane, ControlPlaneError, ControlPlaneResult};
use lastbackend_core::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use lastbackend_core::model::{Kind, Node};
use lastbackend_core::storage::Revision;

use crate::client::{Client, segment};
use crate::error::Error;

impl From<Error> for ControlPlaneError {
    fn from(e: Error) -> Self {
        match e.body() {
            Some(body) => ControlPlaneError::Rejected {
                code: body.code,
                message: e.to_string(),
            },
            None => ControlPlaneError::Unreachable(e.to_string()),
        }
    }
}

/// The path of a member kind's collection.
fn member_path(kind: Kind, name: &str) -> ControlPlaneResult<String> {
    let collection = match kind {
        Kind::Ingress => "ingress",
        Kind::Discovery => "discovery",
        Kind::Exporter => "exporter",
        other => {
            return Err(ControlPlaneError::Rejected {
                code: 400,
                message: format!("{other:?} is not a cluster member kind"),
            });
        }
    };
    Ok(format!("/{collection}/{}", segment(name)))
}

/// `?revision=&timeout=` of a manifest long-poll (seconds, rounded up).
fn spec_query(after: Option<Revision>, wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match after {
        Some(revision) => format!("?revision={revision}&timeout={seconds}"),
        None => format!("?timeout={seconds}"),
    }
}

fn node_path(name: &str) -> String {
    format!("/cluster/node/{}", segment(name))
}

#[async_trait]
impl ControlPlane for Client {
    async fn register_node(
        &self,
        name: &str,
        registration: NodeRegistration,
    ) -> ControlPlaneResult<Node> {
        Ok(self
            .call_json(Method::PUT, &node_path(name), &registration)
            .await?)
    }

    async fn node_status(&self, name: &str, report: NodeStatusReport) -> ControlPlaneResult<Ack> {
        let path = format!("{}/status", node_path(name));
        Ok(self.call_json(Method::PUT, &path, &report).await?)
    }

    async fn node_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<NodeManifest> {
        let path = format!("{}/spec{}", node_path(name), spec_query(after, wait));
        Ok(self.get(&path).await?)
    }

    async fn register_member(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<()> {
        let path = member_path(kind, name)?;
        let _member: serde_json::Value = self.call_json(Method::PUT, &path, &report).await?;
        Ok(())
    }

    async fn member_status(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<Ack> {
        let path = format!("{}/status", member_path(kind, name)?);
        Ok(self.call_json(Method::PUT, &path, &report).await?)
    }

    async fn ingress_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        let path = format!(
            "{}/spec{}",
            member_path(Kind::Ingress, name)?,
            spec_query(after, wait)
        );
        Ok(self.get(&path).await?)
    }

    async fn discovery_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        let path = format!(
            "{}/spec{}",
            member_path(Kind::Discovery, name)?,
            spec_query(after, wait)
        );
        Ok(self.get(&path).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_round_the_wait_up_to_seconds() {
        assert_eq!(spec_query(None, Duration::from_secs(30)), "?timeout=30");
        assert_eq!(
            spec_query(Some(7), Duration::from_millis(1500)),
            "?revision=7&timeout=2"
        );
    }

    #[test]
    fn only_members_have_member_routes() {
        assert_eq!(member_path(Kind::Exporter, "h1").unwrap(), "/exporter/h1");
        let err = member_path(Kind::Node, "h1").unwrap_err();
        assert!(matches!(err, ControlPlaneError::Rejected { code: 400, .. }));
    }
}
