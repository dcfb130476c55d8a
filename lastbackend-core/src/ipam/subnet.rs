//! Pod subnets: a pool of equal blocks (`/24` by default) carved from the
//! cluster CIDR (`--cluster-cidr`, default [`DEFAULT_CLUSTER_CIDR`]), one per
//! node, persisted in [`Storage`] like the service VIPs.
//!
//! Layout, under a key prefix (default [`DEFAULT_SUBNET_PREFIX`]):
//! - `<prefix>/block/<network>` holds `{"owner": "<node>"}`;
//! - `<prefix>/owner/<node>` holds `{"cidr": "<network>/<prefix>"}`.
//!
//! As in [`Ipam`](super::Ipam), both keys are created in one transaction of
//! two create-only operations, so two allocators racing (two controllers
//! around a failover, or a controller and a test) can never hand out one
//! block twice nor give one node two blocks. Allocation is the lowest free
//! block and idempotent per owner, so a crash between allocating and writing
//! the `Subnet` object is repaired by allocating again.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Error, Ipv4Cidr, MAX_ATTEMPTS, Result, decode, encode, mask};
use crate::storage::{self, KeyValue, Storage, Txn, TxnOp};

/// The cluster CIDR used when none is configured (`--cluster-cidr`): private
/// space outside Docker's defaults and the services CIDR, and where flannel
/// and kubeadm put pods, so operators recognise it.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";

/// The prefix length of each node's block unless told otherwise
/// (`--node-cidr-mask-size`): 254 pods per node, 256 nodes per `/16`.
pub const DEFAULT_NODE_PREFIX: u8 = 24;

/// Where subnet allocations live unless told otherwise.
pub const DEFAULT_SUBNET_PREFIX: &str = "system/subnet";

#[derive(Serialize, Deserialize)]
struct BlockRecord {
    owner: String,
}

#[derive(Serialize, Deserialize)]
struct OwnerRecord {
    cidr: String,
}

/// The cluster CIDR and the prefix length of each node's block, checked to
/// fit together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodCidr {
    cidr: Ipv4Cidr,
    node_prefix: u8,
}

impl PodCidr {
    /// Blocks of `/node_prefix` from `cidr`. The block must fit in the CIDR
    /// and hold a gateway and a pod (at most `/30`).
    pub fn new(cidr: Ipv4Cidr, node_prefix: u8) -> Result<Self> {
        if node_prefix < cidr.prefix() || node_prefix > 30 {
            return Err(Error::InvalidCidr {
                cidr: format!("{cidr} in /{node_prefix} blocks"),
                reason: format!(
                    "the node block prefix must lie between the CIDR's own ({}) and 30",
                    cidr.prefix()
                ),
            });
        }
        Ok(Self { cidr, node_prefix })
    }

    /// The cluster CIDR.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The prefix length of a node's block.
    pub fn node_prefix(&self) -> u8 {
        self.node_prefix
    }

    /// How many blocks there are.
    pub fn blocks(&self) -> u64 {
        1u64 << (self.node_prefix - self.cidr.prefix())
    }
}

impl Default for PodCidr {
    /// [`DEFAULT_CLUSTER_CIDR`] in [`DEFAULT_NODE_PREFIX`] blocks.
    fn default() -> Self {
        Self {
            cidr: Ipv4Cidr {
                network: Ipv4Addr::new(10, 244, 0, 0),
                prefix: 16,
            },
            node_prefix: DEFAULT_NODE_PREFIX,
        }
    }
}

/// A pool of per-node blocks persisted in a [`Storage`]. Cheap to clone; any
/// number of pools (in any number of processes) may share one prefix.
#[derive(Clone, Debug)]
pub struct SubnetPool {
    storage: Arc<dyn Storage>,
    cidr: Ipv4Cidr,
    node_prefix: u8,
    prefix: String,
}

impl SubnetPool {
    /// The blocks of `pod_cidr` under [`DEFAULT_SUBNET_PREFIX`].
    pub fn new(storage: Arc<dyn Storage>, pod_cidr: PodCidr) -> Self {
        Self::with_prefix(storage, pod_cidr, DEFAULT_SUBNET_PREFIX)
    }

    /// As [`Self::new`], under another key prefix.
    pub fn with_prefix(storage: Arc<dyn Storage>, pod_cidr: PodCidr, prefix: &str) -> Self {
        Self {
            storage,
            cidr: pod_cidr.cidr,
            node_prefix: pod_cidr.node_prefix,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The cluster CIDR.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// How many blocks the pool has.
    pub fn blocks(&self) -> u64 {
        1u64 << (self.node_prefix - self.cidr.prefix())
    }

    /// The block `owner` holds, if any.
    pub async fn lookup(&self, owner: &str) -> Result<Option<Ipv4Cidr>> {
        Ok(self.owner_record(owner).await?.map(|(cidr, _)| cidr))
    }

    /// Every allocation, block to owner, lowest block first.
    pub async fn allocations(&self) -> Result<Vec<(Ipv4Cidr, String)>> {
        let list = self
            .storage
            .list(&format!("{}/block/", self.prefix))
            .await?;
        let mut all = list
            .items
            .iter()
            .map(|kv| Ok((self.block_of_key(kv)?, decode::<BlockRecord>(kv)?.owner)))
            .collect::<Result<Vec<_>>>()?;
        all.sort_by_key(|(cidr, _)| cidr.network());
        Ok(all)
    }

    /// The lowest free block for `owner`, or the one it already holds.
    pub async fn allocate(&self, owner: &str) -> Result<Ipv4Cidr> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(cidr) = self.lookup(owner).await? {
                return Ok(cidr);
            }
            let taken = self
                .allocations()
                .await?
                .into_iter()
                .map(|(cidr, _)| cidr.network())
                .collect::<BTreeSet<_>>();
            let step = 1u64 << (32 - self.node_prefix);
            let base = u64::from(u32::from(self.cidr.network()));
            let free = (0..self.blocks())
                .filter_map(|i| u32::try_from(base + i * step).ok())
                .map(Ipv4Addr::from)
                .find(|net| !taken.contains(net))
                .ok_or(Error::NoFreeSubnet {
                    cidr: self.cidr,
                    node_prefix: self.node_prefix,
                    blocks: self.blocks(),
                })?;
            let block = Ipv4Cidr::new(free, self.node_prefix)?;
            match self.create(block, owner).await {
                Ok(()) => return Ok(block),
                // Somebody took the block or allocated for this owner first.
                Err(e) if e.is_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended { cidr: self.cidr })
    }

    /// Frees the block of `owner` and returns it; `None` if it held none.
    pub async fn release(&self, owner: &str) -> Result<Option<Ipv4Cidr>> {
        loop {
            let Some((cidr, owner_kv)) = self.owner_record(owner).await? else {
                return Ok(None);
            };
            let block_key = self.block_key(cidr);
            let mut txn = Txn::new().op(TxnOp::Delete {
                key: owner_kv.key,
                revision: Some(owner_kv.mod_revision),
            });
            match self.storage.get(&block_key).await {
                Ok(kv) if decode::<BlockRecord>(&kv)?.owner == owner => {
                    txn = txn.op(TxnOp::Delete {
                        key: block_key,
                        revision: Some(kv.mod_revision),
                    });
                }
                // The index points at a block that is not ours: drop only it.
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            match self.storage.txn(txn).await {
                Ok(_) => return Ok(Some(cidr)),
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The key prefix of the owner index, to watch for allocations whose
    /// node is gone.
    pub fn owner_prefix(&self) -> String {
        format!("{}/owner/", self.prefix)
    }

    async fn create(&self, block: Ipv4Cidr, owner: &str) -> storage::Result<()> {
        let txn = Txn::new()
            .op(TxnOp::Create {
                key: self.block_key(block),
                value: encode(&BlockRecord {
                    owner: owner.to_owned(),
                }),
                lease: None,
            })
            .op(TxnOp::Create {
                key: format!("{}{owner}", self.owner_prefix()),
                value: encode(&OwnerRecord {
                    cidr: block.to_string(),
                }),
                lease: None,
            });
        self.storage.txn(txn).await.map(drop)
    }

    async fn owner_record(&self, owner: &str) -> Result<Option<(Ipv4Cidr, KeyValue)>> {
        match self
            .storage
            .get(&format!("{}{owner}", self.owner_prefix()))
            .await
        {
            Ok(kv) => {
                let cidr = decode::<OwnerRecord>(&kv)?.cidr;
                let cidr = cidr.parse().map_err(|_| Error::Corrupt {
                    key: kv.key.clone(),
                    reason: format!("{cidr:?} is not an IPv4 CIDR"),
                })?;
                Ok(Some((cidr, kv)))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn block_key(&self, block: Ipv4Cidr) -> String {
        format!("{}/block/{}", self.prefix, block.network())
    }

    fn block_of_key(&self, kv: &KeyValue) -> Result<Ipv4Cidr> {
        kv.key
            .rsplit('/')
            .next()
            .and_then(|net| net.parse::<Ipv4Addr>().ok())
            .filter(|net| u32::from(*net) & !mask(self.node_prefix) == 0)
            .and_then(|net| Ipv4Cidr::new(net, self.node_prefix).ok())
            .ok_or_else(|| Error::Corrupt {
                key: kv.key.clone(),
                reason: format!("the key does not end with a /{} network", self.node_prefix),
            })
    }
}

#[cfg(test)]
mod tests;
