//! Plug a custom proxy into the real ingress member: routes become a
//! plain-text routing table instead of `haproxy.cfg`.
//!
//! Run: `cargo run -p examples --example custom_ingress`
//!
//! `RoutingTable` implements `lastbackend_runtime::ingress::IngressDriver`:
//! each manifest is planned with `ingress::plan::routes` (the same planning
//! the HAProxy driver uses, so the same routes are rejected for the same
//! reasons), written as one line per path rule (`port host path -> pods`)
//! to `routes.txt` in a temporary directory, printed, and answered with
//! every route's state. The program embeds an in-memory cluster as
//! `cluster_hollow` does (API operations, `ControllerManager`, two hollow
//! nodes), runs the real `ingress::member::run` as ingress `edge` with the
//! API as its `ControlPlane`, applies a service of two replicas and two
//! routes, one of them naming a port the service does not have, waits
//! until the API shows the good route ready (a pod behind each of its
//! rules) and the bad one in error with the planner's reason, prints both
//! states, and stops the member, which stops the driver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use lastbackend_core::api::{Api, ControlPlane, Settings};
use lastbackend_core::controller::hollow::{HollowConfig, HollowNode};
use lastbackend_core::controller::manager::{self, ControllerManager, Writer};
use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{Kind, NodeResources, Route, SelfLink, State, Status};
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::ingress::{self, IngressDriver, member, plan};

/// Two replicas; service port 80 goes to pod port 8080.
const SERVICE_WEB: &str = r#"
kind: Service
version: v1
meta:
  name: web
spec:
  replicas: 2
  network:
    ports: ["80:8080/tcp"]
  template:
    containers:
      - name: web
        image:
          name: nginx
"#;

/// A route by host and path prefix, and one to a port `web` lacks.
const ROUTES: &str = r#"
kind: Route
version: v1
meta:
  name: www
spec:
  port: 80
  endpoint: www.example.com
  rules:
    - {path: /, service: web, port: 80}
    - {path: /api, service: web, port: 80}
---
kind: Route
version: v1
meta:
  name: broken
spec:
  port: 80
  endpoint: broken.example.com
  rules:
    - {service: web, port: 9999}
"#;

/// The driver: a routing table file another program reads.
struct RoutingTable {
    file: PathBuf,
}

#[async_trait]
impl IngressDriver for RoutingTable {
    async fn apply(
        &self,
        manifest: &IngressManifest,
    ) -> Result<BTreeMap<String, Status>, ingress::Error> {
        let (routes, rejected) = plan::routes(manifest);
        let mut table = String::new();
        let mut states = BTreeMap::new();
        for route in routes {
            for rule in &route.rules {
                let pods: Vec<String> = route.backends[rule.backend]
                    .servers
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let pods = if pods.is_empty() {
                    "(no ready pod)".to_owned()
                } else {
                    pods.join(" ")
                };
                table.push_str(&format!(
                    "{} {} {} -> {pods}\n",
                    route.port, route.host, rule.path
                ));
            }
            let state = if route.empty.is_empty() {
                Status::new(State::Ready)
            } else {
                Status::with_message(State::Waiting, "no ready pod yet")
            };
            states.insert(route.link, state);
        }
        for (link, why) in rejected {
            table.push_str(&format!("# {link} left out: {why}\n"));
            states.insert(link, Status::with_message(State::Error, why));
        }
        write_atomically(&self.file, &table)
            .map_err(|error| ingress::Error::driver("routing-table", error))?;
        println!(
            "asked to apply revision {} ({}):\n{table}",
            manifest.revision,
            self.file.display()
        );
        Ok(states)
    }

    async fn stop(&self) {
        // Nothing routes by a table nobody maintains any more.
        let _ = std::fs::remove_file(&self.file);
        println!("driver stopped, {} removed", self.file.display());
    }
}

/// A reader sees the old table or the new one, never half of one.
fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let api = Api::new(store.clone(), Settings::default());

    // Alone in this process, the controller needs no leader election.
    let controller = ControllerManager::new(store.clone(), manager::Settings::default());
    let (stop_controller, controller_stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        let shutdown = async move {
            let _ = controller_stopped.await;
        };
        controller.run_with(Writer::unfenced(store), shutdown).await
    });
    let capacity = NodeResources {
        pods: 10,
        ..NodeResources::default()
    };
    let nodes: Vec<HollowNode> = (1..=2)
        .map(|i| {
            let config = HollowConfig::new(format!("node-{i}"), capacity);
            HollowNode::with_config(api.clone(), config)
        })
        .collect();

    // The real member loop, with the API in process as its control plane;
    // the controller assigns routes to it once it is online.
    let dir = std::env::temp_dir().join(format!("lb-custom-ingress-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let driver = Arc::new(RoutingTable {
        file: dir.join("routes.txt"),
    });
    let plane: Arc<dyn ControlPlane> = Arc::new(api.clone());
    let (stop_member, member_stopped) = tokio::sync::oneshot::channel::<()>();
    let member = tokio::spawn(async move {
        let shutdown = async move {
            let _ = member_stopped.await;
        };
        member::run(plane, "edge", driver, shutdown).await;
    });

    let Manifest::Namespace(demo) =
        manifest::parse("kind: Namespace\nversion: v1\nmeta: {name: demo}\n")?.remove(0)
    else {
        unreachable!("a namespace manifest");
    };
    api.create_namespace(demo).await?;
    api.apply("demo", manifest::parse(SERVICE_WEB)?, Default::default())
        .await?;
    api.apply("demo", manifest::parse(ROUTES)?, Default::default())
        .await?;
    println!("applied service demo:web (2 replicas) and routes www, broken");

    let state = |name: &str| {
        let (store, link) = (
            api.store().clone(),
            SelfLink::namespaced(Kind::Route, "demo", name),
        );
        async move {
            let route: Option<Route> = store.find(&link).await?;
            anyhow::Ok(route.map(|r| r.status))
        }
    };
    let (www, broken) = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (www, broken) = (state("www").await?, state("broken").await?);
            if let (Some(www), Some(broken)) = (www, broken)
                && www.state == State::Ready
                && broken.state == State::Error
            {
                return anyhow::Ok((www, broken));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the routes were not reported in 30s")??;
    println!("route demo:www: {:?}", www.state);
    println!("route demo:broken: {:?} ({})", broken.state, broken.message);

    let _ = stop_member.send(());
    member.await?;
    let _ = stop_controller.send(());
    controller.await??;
    for node in nodes {
        node.stop().await;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
