//! The view's content: what every node manifest is built from, decoded once
//! and indexed by node, and which nodes each change concerns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::manifest::internal::NodeManifest;
use crate::model::{
    ConfigSpec, Discovery, EndpointSpec, Exporter, Kind, PodSpec, SecretSpec, SubnetSpec,
    VolumeSpec,
};
use crate::storage::watcher::Event;
use crate::storage::{KeyValue, Revision};

/// Only the `spec` of a stored object: a pod's status (most of its writes)
/// is skipped, not decoded.
#[derive(Deserialize)]
struct SpecOf<S> {
    #[serde(default)]
    spec: S,
}

/// Only the owning node of a stored subnet.
#[derive(Deserialize)]
struct NodeOf {
    #[serde(default)]
    node: String,
}

fn spec_of<S: Default + DeserializeOwned>(kv: &KeyValue) -> Option<S> {
    serde_json::from_slice::<SpecOf<S>>(&kv.value)
        .map(|o| o.spec)
        .map_err(|e| tracing::warn!(key = %kv.key, error = %e, "agents' view: undecodable value skipped"))
        .ok()
}

/// What one event changed: the nodes whose manifests differ now, and
/// whether the part every node shares did.
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub(super) nodes: HashSet<String>,
    pub(super) global: bool,
}

/// The part of a manifest that is the node's own.
#[derive(Debug, Default)]
pub(super) struct NodeContent {
    pods: BTreeMap<String, PodSpec>,
    volumes: BTreeMap<String, VolumeSpec>,
    /// `ns:name` of the secrets (configs) its pods read, with how many do.
    secrets: HashMap<String, usize>,
    configs: HashMap<String, usize>,
}

/// The whole view at one revision.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Every change up to this revision is in.
    pub(super) revision: Revision,
    nodes: HashMap<String, NodeContent>,
    /// Where each placed pod (volume) is, by selflink.
    pods: HashMap<String, String>,
    volumes: HashMap<String, String>,
    endpoints: BTreeMap<String, EndpointSpec>,
    subnets: BTreeMap<String, SubnetSpec>,
    /// The node each subnet belongs to, by selflink.
    subnet_nodes: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretSpec>,
    configs: BTreeMap<String, ConfigSpec>,
    /// Which nodes' pods read a secret (config), by `ns:name`.
    secret_nodes: HashMap<String, HashSet<String>>,
    config_nodes: HashMap<String, HashSet<String>>,
    /// Ready discovery servers' and exporters' addresses, by storage key
    /// (the order a list gives).
    resolvers: BTreeMap<String, SocketAddr>,
    exporters: BTreeMap<String, SocketAddr>,
}

/// `ns:name` links of what a pod reads (secrets or configs).
fn reads(link: &str, spec: &PodSpec, configs: bool) -> Vec<String> {
    let ns = link.split(':').next().unwrap_or_default();
    let names = if configs {
        spec.template.configs()
    } else {
        spec.template.secrets()
    };
    names.into_iter().map(|n| format!("{ns}:{n}")).collect()
}

/// The selflink of `key` when it is in `kind`'s collection.
fn link_in(key: &str, kind: Kind) -> Option<&str> {
    key.strip_prefix(kind.collection())?.strip_prefix('/')
}

impl State {
    /// The view of a full listing at `revision`.
    pub(super) fn from_list(items: &[KeyValue], revision: Revision) -> Self {
        let mut state = Self::default();
        for kv in items {
            state.put(kv);
        }
        state.revision = revision;
        state
    }

    /// Applies one change (of a revision after `self.revision`); a list
    /// is taken by [`State::from_list`] instead and touches nothing here.
    pub(super) fn apply(&mut self, event: &Event<KeyValue>) -> Touched {
        let touched = match event {
            Event::Applied { item, .. } => self.put(item),
            Event::Deleted { key, .. } => self.remove(key),
            Event::Restarted { .. } => Touched::default(),
        };
        self.revision = self.revision.max(event.revision());
        touched
    }

    fn put(&mut self, kv: &KeyValue) -> Touched {
        let key = kv.key.as_str();
        let mut touched = Touched::default();
        if let Some(link) = link_in(key, Kind::Pod) {
            match spec_of::<PodSpec>(kv) {
                Some(spec) => self.place_pod(link, spec, &mut touched),
                None => self.unplace_pod(link, &mut touched),
            }
        } else if let Some(link) = link_in(key, Kind::Volume) {
            match spec_of::<VolumeSpec>(kv) {
                Some(spec) => self.place_volume(link, spec, &mut touched),
                None => self.unplace_volume(link, &mut touched),
            }
        } else if let Some(link) = link_in(key, Kind::Endpoint) {
            touched.global = set(&mut self.endpoints, link, spec_of(kv));
        } else if let Some(link) = link_in(key, Kind::Subnet) {
            let node = serde_json::from_slice::<NodeOf>(&kv.value)
                .ok()
                .map(|s| s.node);
            touched.global =
                set(&mut self.subnets, link, spec_of(kv)) | set(&mut self.subnet_nodes, link, node);
        } else if let Some(link) = link_in(key, Kind::Secret) {
            if set(&mut self.secrets, link, spec_of(kv)) {
                touched.nodes = self.secret_nodes.get(link).cloned().unwrap_or_default();
            }
        } else if let Some(link) = link_in(key, Kind::Config) {
            if set(&mut self.configs, link, spec_of(kv)) {
                touched.nodes = self.config_nodes.get(link).cloned().unwrap_or_default();
            }
        } else if link_in(key, Kind::Discovery).is_some() {
            let address = serde_json::from_slice::<Discovery>(&kv.value)
                .ok()
                .and_then(|d| super::super::agents::resolver(&d));
            touched.global = set(&mut self.resolvers, key, address);
        } else if link_in(key, Kind::Exporter).is_some() {
            let address = serde_json::from_slice::<Exporter>(&kv.value)
                .ok()
                .and_then(|e| super::super::agents::exporter_listener(&e));
            touched.global = set(&mut self.exporters, key, address);
        }
        touched
    }

    fn remove(&mut self, key: &str) -> Touched {
        let mut touched = Touched::default();
        if let Some(link) = link_in(key, Kind::Pod) {
            self.unplace_pod(link, &mut touched);
        } else if let Some(link) = link_in(key, Kind::Volume) {
            self.unplace_volume(link, &mut touched);
        } else if let Some(link) = link_in(key, Kind::Endpoint) {
            touched.global = set(&mut self.endpoints, link, None);
        } else if let Some(link) = link_in(key, Kind::Subnet) {
            touched.global =
                set(&mut self.subnets, link, None) | set(&mut self.subnet_nodes, link, None);
        } else if let Some(link) = link_in(key, Kind::Secret) {
            if set(&mut self.secrets, link, None) {
                touched.nodes = self.secret_nodes.get(link).cloned().unwrap_or_default();
            }
        } else if let Some(link) = link_in(key, Kind::Config) {
            if set(&mut self.configs, link, None) {
                touched.nodes = self.config_nodes.get(link).cloned().unwrap_or_default();
            }
        } else if link_in(key, Kind::Discovery).is_some() {
            touched.global = set(&mut self.resolvers, key, None);
        } else if link_in(key, Kind::Exporter).is_some() {
            touched.global = set(&mut self.exporters, key, None);
        }
        touched
    }

    fn place_pod(&mut self, link: &str, spec: PodSpec, touched: &mut Touched) {
        let Some(node) = spec.node.clone() else {
            return self.unplace_pod(link, touched);
        };
        if self.pods.get(link) == Some(&node)
            && self.nodes.get(&node).and_then(|c| c.pods.get(link)) == Some(&spec)
        {
            return;
        }
        self.unplace_pod(link, touched);
        for (secret, configs) in reads(link, &spec, false)
            .into_iter()
            .map(|s| (s, false))
            .chain(reads(link, &spec, true).into_iter().map(|c| (c, true)))
        {
            let content = self.nodes.entry(node.clone()).or_default();
            let (counts, index) = if configs {
                (&mut content.configs, &mut self.config_nodes)
            } else {
                (&mut content.secrets, &mut self.secret_nodes)
            };
            let count = counts.entry(secret.clone()).or_default();
            *count += 1;
            if *count == 1 {
                index.entry(secret).or_default().insert(node.clone());
            }
        }
        self.nodes
            .entry(node.clone())
            .or_default()
            .pods
            .insert(link.to_owned(), spec);
        self.pods.insert(link.to_owned(), node.clone());
        touched.nodes.insert(node);
    }

    fn unplace_pod(&mut self, link: &str, touched: &mut Touched) {
        let Some(node) = self.pods.remove(link) else {
            return;
        };
        let Some(content) = self.nodes.get_mut(&node) else {
            return;
        };
        if let Some(spec) = content.pods.remove(link) {
            for (read, configs) in reads(link, &spec, false)
                .into_iter()
                .map(|s| (s, false))
                .chain(reads(link, &spec, true).into_iter().map(|c| (c, true)))
            {
                let (counts, index) = if configs {
                    (&mut content.configs, &mut self.config_nodes)
                } else {
                    (&mut content.secrets, &mut self.secret_nodes)
                };
                let Some(count) = counts.get_mut(&read) else {
                    continue;
                };
                *count -= 1;
                if *count == 0 {
                    counts.remove(&read);
                    if let Some(nodes) = index.get_mut(&read) {
                        nodes.remove(&node);
                        if nodes.is_empty() {
                            index.remove(&read);
                        }
                    }
                }
            }
        }
        touched.nodes.insert(node);
    }

    fn place_volume(&mut self, link: &str, spec: VolumeSpec, touched: &mut Touched) {
        let Some(node) = spec.node.clone() else {
            return self.unplace_volume(link, touched);
        };
        if self.nodes.get(&node).and_then(|c| c.volumes.get(link)) == Some(&spec) {
            return;
        }
        self.unplace_volume(link, touched);
        self.nodes
            .entry(node.clone())
            .or_default()
            .volumes
            .insert(link.to_owned(), spec);
        self.volumes.insert(link.to_owned(), node.clone());
        touched.nodes.insert(node);
    }

    fn unplace_volume(&mut self, link: &str, touched: &mut Touched) {
        let Some(node) = self.volumes.remove(link) else {
            return;
        };
        if let Some(content) = self.nodes.get_mut(&node) {
            content.volumes.remove(link);
        }
        touched.nodes.insert(node);
    }

    /// Node `name`'s manifest at `self.revision`.
    pub(super) fn node_manifest(&self, name: &str) -> NodeManifest {
        let own = self.own(name);
        NodeManifest {
            revision: self.revision,
            resolvers: self.resolvers.values().copied().collect(),
            exporter: self.exporters.values().next().copied(),
            subnet: self
                .subnet_nodes
                .iter()
                .find(|(_, node)| *node == name)
                .map(|(link, _)| link.clone()),
            subnets: self.subnets.clone(),
            endpoints: self.endpoints.clone(),
            ..own
        }
    }

    /// The part of node `name`'s manifest that is its own.
    fn own(&self, name: &str) -> NodeManifest {
        let mut m = NodeManifest::default();
        if let Some(content) = self.nodes.get(name) {
            m.pods = content.pods.clone();
            m.volumes = content.volumes.clone();
            m.secrets = resolve(&content.secrets, &self.secrets);
            m.configs = resolve(&content.configs, &self.configs);
        }
        m
    }

    /// What differs between `self` and `newer` (a relisting after the
    /// history was lost): every node whose manifest changed.
    pub(super) fn diff(&self, newer: &Self) -> Touched {
        let global = self.resolvers != newer.resolvers
            || self.exporters.values().next() != newer.exporters.values().next()
            || self.subnets != newer.subnets
            || self.subnet_nodes != newer.subnet_nodes
            || self.endpoints != newer.endpoints;
        let nodes = self
            .nodes
            .keys()
            .chain(newer.nodes.keys())
            .filter(|node| self.own(node) != newer.own(node))
            .cloned()
            .collect();
        Touched { nodes, global }
    }
}

/// Sets or removes `map[key]`; whether that changed it.
fn set<V: PartialEq>(map: &mut BTreeMap<String, V>, key: &str, value: Option<V>) -> bool {
    match value {
        Some(v) if map.get(key) == Some(&v) => false,
        Some(v) => {
            map.insert(key.to_owned(), v);
            true
        }
        None => map.remove(key).is_some(),
    }
}

/// The specs of the referenced objects that exist.
fn resolve<S: Clone>(
    refs: &HashMap<String, usize>,
    all: &BTreeMap<String, S>,
) -> BTreeMap<String, S> {
    refs.keys()
        .filter_map(|link| Some((link.clone(), all.get(link)?.clone())))
        .collect()
}
