//! [`ControllerManager`]: the platform's reconcilers, each a
//! [`runtime::Controller`] with its watches, run together while this process
//! leads, their writes fenced by the leadership.
//!
//! A reconciler joins with one line, [`ControllerManager::add`], giving a
//! name and a function that builds its controller from a [`Context`] (the
//! store, the [`Settings`], the fenced [`Writer`], the IPAM). The function is
//! called again at every term, so each term starts from fresh caches.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{self, JoinSet};

use super::leader::{self, Leadership};
use super::runtime::{self, Backoff, Controller, Reconciler};
use super::{deployment, namespace, node, route, service, subnet, volume};
use crate::ipam::{self, Ipam, Ipv4Cidr, PodCidr, SubnetPool};
use crate::model::{Discovery, Exporter, Ingress, Node};
use crate::scheduler::{DefaultPolicy, Policy};
use crate::storage::{self, Revision};
use crate::store::{Store, Writes};

/// The internal DNS zone unless told otherwise, as in the docs.
pub const DEFAULT_INTERNAL_DOMAIN: &str = "lb.local";

/// What the reconcilers are configured with.
#[derive(Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The zone of service names: `<service>.<namespace>.<zone>`.
    pub internal_domain: String,
    /// Where service VIPs come from.
    pub services_cidr: Ipv4Cidr,
    /// Where node pod subnets come from.
    pub pod_cidr: PodCidr,
    /// Where pods go.
    pub policy: Arc<dyn Policy>,
    /// Workers per reconciler.
    pub workers: usize,
    /// Retry delays of failed keys (an unschedulable pod, a lost race).
    pub backoff: Backoff,
    /// How often every object is reconciled again without a change.
    pub resync: Option<Duration>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("internal_domain", &self.internal_domain)
            .field("services_cidr", &self.services_cidr)
            .field("pod_cidr", &self.pod_cidr)
            .field("workers", &self.workers)
            .field("backoff", &self.backoff)
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            internal_domain: DEFAULT_INTERNAL_DOMAIN.to_owned(),
            services_cidr: Ipv4Cidr::services_default(),
            pod_cidr: PodCidr::default(),
            policy: Arc::new(DefaultPolicy),
            workers: 2,
            backoff: Backoff::default(),
            resync: Some(runtime::DEFAULT_RESYNC),
        }
    }
}

impl Settings {
    /// Sets the internal DNS zone.
    pub fn internal_domain(mut self, zone: impl Into<String>) -> Self {
        self.internal_domain = zone.into();
        self
    }

    /// Sets the services CIDR.
    pub fn services_cidr(mut self, cidr: Ipv4Cidr) -> Self {
        self.services_cidr = cidr;
        self
    }

    /// Sets the cluster CIDR and node block size of pod subnets.
    pub fn pod_cidr(mut self, pod_cidr: PodCidr) -> Self {
        self.pod_cidr = pod_cidr;
        self
    }

    /// Sets the scheduling policy.
    pub fn policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the workers per reconciler.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the retry delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the resync interval (`None`: never).
    pub fn resync(mut self, every: Option<Duration>) -> Self {
        self.resync = every;
        self
    }
}

/// Commits the reconcilers' writes: behind the leadership's fence, so a
/// deposed controller cannot write, or unfenced for a process that is alone
/// by construction (an embedded single-node cluster, a test).
#[derive(Clone, Debug)]
pub struct Writer {
    store: Store,
    leadership: Option<Leadership>,
}

impl Writer {
    /// Writes only while `leadership`'s term lasts.
    pub fn fenced(store: Store, leadership: Leadership) -> Self {
        Self {
            store,
            leadership: Some(leadership),
        }
    }

    /// Writes without a fence: only for a controller that is the only one.
    pub fn unfenced(store: Store) -> Self {
        Self {
            store,
            leadership: None,
        }
    }

    /// Commits `writes`, all or nothing; a deposed leader gets
    /// [`leader::Error::is_conflict`] or [`leader::Error::is_not_leader`].
    pub async fn commit(&self, writes: Writes) -> Result<Revision, leader::Error> {
        match &self.leadership {
            Some(leadership) => leadership.commit(&self.store, writes).await,
            None => Ok(self.store.commit(writes).await?),
        }
    }
}

/// What a reconciler is built from.
#[derive(Clone, Debug)]
pub struct Context {
    /// The store, to read.
    pub store: Store,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// The only way to write.
    pub writer: Writer,
    /// Service VIPs.
    pub ipam: Ipam,
    /// Node pod subnets.
    pub subnets: SubnetPool,
}

impl Context {
    /// A context over `store` writing through `writer`.
    pub fn new(store: Store, settings: Arc<Settings>, writer: Writer) -> Self {
        let ipam = Ipam::new(store.storage().clone(), settings.services_cidr);
        let subnets = SubnetPool::new(store.storage().clone(), settings.pod_cidr);
        Self {
            store,
            settings,
            writer,
            ipam,
            subnets,
        }
    }

    /// A controller over the context's store with the settings' backoff and
    /// resync, to register watches on.
    pub fn controller(&self) -> Controller {
        Controller::new(self.store.clone())
            .backoff(self.settings.backoff)
            .resync(self.settings.resync)
    }
}

/// A controller with its watches, and the reconciler it runs.
pub struct BuiltController {
    /// The controller.
    pub controller: Controller,
    /// What it runs for each key.
    pub reconciler: Arc<dyn Reconciler>,
}

impl fmt::Debug for BuiltController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltController")
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

/// Builds a reconciler's controller for one term.
pub type BuildFn = Box<dyn Fn(&Context) -> BuiltController + Send + Sync>;

/// Why a reconcile failed (the runtime retries the key after its backoff).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// Reading failed.
    #[error(transparent)]
    Read(#[from] storage::Error),
    /// Writing failed (a lost compare-and-swap, a lost leadership).
    #[error(transparent)]
    Write(#[from] leader::Error),
    /// VIP or subnet allocation failed.
    #[error(transparent)]
    Ipam(#[from] ipam::Error),
    /// Some pods could not be placed; they carry the reason too.
    #[error("{pods} pods of {deployment} unschedulable: {message}")]
    Unschedulable {
        /// The deployment's selflink.
        deployment: String,
        /// How many.
        pods: usize,
        /// The scheduler's reason.
        message: String,
    },
}

impl ReconcileError {
    /// A lost compare-and-swap or create race: retrying reads again.
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Read(e) => e.is_conflict() || e.is_exists(),
            Self::Write(leader::Error::Storage(e)) => e.is_conflict() || e.is_exists(),
            _ => false,
        }
    }
}

/// The platform's reconcilers, run while leading.
pub struct ControllerManager {
    store: Store,
    settings: Arc<Settings>,
    builders: Vec<(String, BuildFn)>,
}

impl fmt::Debug for ControllerManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.builders.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ControllerManager")
            .field("settings", &self.settings)
            .field("reconcilers", &names)
            .finish_non_exhaustive()
    }
}

impl ControllerManager {
    /// A manager with the platform's reconcilers: services, deployments,
    /// namespaces, node and member presence, node subnets, volumes and
    /// routes.
    pub fn new(store: Store, settings: Settings) -> Self {
        let mut manager = Self::empty(store, settings);
        manager.add("service", service::build);
        manager.add("deployment", deployment::build);
        manager.add("namespace", namespace::build);
        manager.add("node", node::build::<Node>);
        manager.add("subnet", subnet::build);
        manager.add("ingress", node::build::<Ingress>);
        manager.add("discovery", node::build::<Discovery>);
        manager.add("exporter", node::build::<Exporter>);
        manager.add("volume", volume::build);
        manager.add("route", route::build);
        manager
    }

    /// A manager with no reconcilers.
    pub fn empty(store: Store, settings: Settings) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            builders: Vec::new(),
        }
    }

    /// Registers a reconciler: `build` makes its controller at each term.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        build: impl Fn(&Context) -> BuiltController + Send + Sync + 'static,
    ) -> &mut Self {
        self.builders.push((name.into(), Box::new(build)));
        self
    }

    /// The registered reconcilers' names.
    pub fn names(&self) -> Vec<&str> {
        self.builders.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The settings.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The context a term's reconcilers get when writing through `writer`.
    pub fn context(&self, writer: Writer) -> Context {
        Context::new(self.store.clone(), Arc::clone(&self.settings), writer)
    }

    /// Runs every reconciler while `leadership` leads (stopping them when it
    /// stops leading, starting them again when it leads again) until
    /// `shutdown` completes. Errors of one term are logged; the last one is
    /// returned at shutdown.
    pub async fn run(
        &self,
        mut leadership: Leadership,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), runtime::Error> {
        let mut shutdown = pin!(shutdown);
        let mut last = Ok(());
        loop {
            tokio::select! {
                () = leadership.wait_until_leader() => {}
                () = &mut shutdown => return last,
            }
            let writer = Writer::fenced(self.store.clone(), leadership.clone());
            let (stop, stopped) = watch::channel(false);
            let mut term = self.start(writer, stopped);
            tracing::info!(reconcilers = ?self.names(), "leading; reconcilers started");
            let ended = tokio::select! {
                () = leadership.wait_until_follower() => None,
                () = &mut shutdown => Some(Ok(())),
                Some(failed) = term.ended_early() => Some(Err(failed)),
            };
            stop.send_replace(true);
            while let Some((name, result)) = term.next().await {
                if let Err(error) = result {
                    tracing::warn!(reconciler = name, %error, "reconciler stopped badly");
                    last = Err(error);
                }
            }
            match ended {
                Some(Ok(())) => return last,
                // A reconciler that ended by itself leaves the controller
                // half working: stop leading and say why, so the process
                // exits and another controller (or a restart) takes over.
                Some(Err(failed)) => {
                    tracing::error!(error = %failed, "a reconciler ended; stopping");
                    return Err(failed);
                }
                None => tracing::info!("lost the lead; reconcilers stopped"),
            }
        }
    }

    /// Runs every reconciler without leader election, writing through
    /// `writer`, until `shutdown` completes.
    pub async fn run_with(
        &self,
        writer: Writer,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), runtime::Error> {
        let (stop, stopped) = watch::channel(false);
        let mut term = self.start(writer, stopped);
        let failed = tokio::select! {
            () = shutdown => None,
            Some(failed) = term.ended_early() => Some(failed),
        };
        stop.send_replace(true);
        let mut last = Ok(());
        while let Some((_, result)) = term.next().await {
            if let Err(error) = result {
                last = Err(error);
            }
        }
        failed.map_or(last, Err)
    }

    fn start(&self, writer: Writer, stopped: watch::Receiver<bool>) -> Term {
        let context = self.context(writer);
        let mut term = Term::default();
        for (name, build) in &self.builders {
            let BuiltController {
                controller,
                reconciler,
            } = build(&context);
            let mut stopped = stopped.clone();
            let workers = self.settings.workers;
            tracing::debug!(name, "starting reconciler");
            let task = term.tasks.spawn(async move {
                let stop = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                controller.run(reconciler, workers, stop).await
            });
            term.names.insert(task.id(), name.clone());
        }
        term
    }
}

/// The reconcilers of one term, each task by its reconciler's name.
#[derive(Default)]
struct Term {
    tasks: JoinSet<Result<(), runtime::Error>>,
    names: HashMap<task::Id, String>,
}

impl Term {
    /// The next reconciler to end, and how; a panic is an error.
    async fn next(&mut self) -> Option<(String, Result<(), runtime::Error>)> {
        let joined = self.tasks.join_next_with_id().await?;
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(panic) => panic.id(),
        };
        let name = self.names.remove(&id).unwrap_or_default();
        let result = match joined {
            Ok((_, result)) => result,
            Err(panic) => Err(runtime::Error::Ended {
                reconciler: name.clone(),
                reason: panic.to_string(),
            }),
        };
        Some((name, result))
    }

    /// Waits for a reconciler that ends before it is told to stop: any end
    /// then is a failure, a clean return included.
    async fn ended_early(&mut self) -> Option<runtime::Error> {
        let (name, result) = self.next().await?;
        Some(match result {
            Ok(()) => runtime::Error::Ended {
                reconciler: name,
                reason: "returned before it was stopped".to_owned(),
            },
            Err(error) => error,
        })
    }
}
