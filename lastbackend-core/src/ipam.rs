//! Service VIPs: an IPv4 address allocator over a CIDR, persisted in
//! [`Storage`] so that every controller (and a new leader after a failover)
//! sees the same allocations.
//!
//! Layout, under a key prefix (default [`DEFAULT_PREFIX`]):
//! - `<prefix>/ip/<ip>` holds `{"owner": "<selflink>"}`;
//! - `<prefix>/owner/<selflink>` holds `{"ip": "<ip>"}`.
//!
//! Both keys are created together in one transaction of two create-only
//! operations, and deleted together. So an address can never be handed out
//! twice (a second create of its key fails, whoever tries), and an owner can
//! never hold two addresses (the same for its key), even with two allocators
//! racing during a controller failover. One key per address rather than one
//! bitmap or array key (the original's `system/ipam`) keeps writers of
//! different addresses from conflicting with each other and keeps every
//! allocation readable with `etcdctl`; the owner index makes "which address
//! does this service hold" one read instead of a scan.
//!
//! Allocation is deterministic: the lowest free address of the range.
//!
//! Pod subnets, one block of the cluster CIDR per node, come from a
//! [`SubnetPool`] built the same way ([`subnet`]).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::ipam::{Ipam, Ipv4Cidr};
//! use lastbackend_core::storage::MemoryStorage;
//!
//! # async fn run() -> Result<(), lastbackend_core::ipam::Error> {
//! let ipam = Ipam::new(Arc::new(MemoryStorage::new()), Ipv4Cidr::services_default());
//! let vip = ipam.allocate("demo:web").await?;
//! assert_eq!(vip, ipam.allocate("demo:web").await?, "idempotent per owner");
//! ipam.release("demo:web").await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::storage::{self, KeyValue, Storage, Txn, TxnOp};

pub mod subnet;

pub use subnet::{PodCidr, SubnetPool};

/// The services CIDR used when none is configured (`--services-cidr`).
///
/// `10.96.0.0/16` is private space (RFC 1918) and sits outside every range
/// Docker takes by default (`172.17.0.0/16` for `docker0`, then
/// `172.18.0.0/16`-`172.31.0.0/16` and `192.168.0.0/16` for user networks), so
/// a VIP never shadows a container or bridge address on a node. The original
/// defaulted to `172.17.0.0/16` (docker0 itself) or `172.0.0.0/24` (public
/// space). It is also where Kubernetes (kubeadm) puts ClusterIPs, which
/// operators recognise, and holds 65,534 VIPs.
pub const DEFAULT_SERVICES_CIDR: &str = "10.96.0.0/16";

/// Where allocations live unless told otherwise.
pub const DEFAULT_PREFIX: &str = "system/ipam";

/// How many times an allocation retries after losing a race for an address
/// before giving up. Each lost race means another allocation succeeded, so
/// this is only reached under pathological churn.
const MAX_ATTEMPTS: usize = 1024;

/// The result of an IPAM operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an IPAM operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CIDR cannot be parsed or is not usable as a pool.
    #[error("invalid CIDR {cidr:?}: {reason}")]
    InvalidCidr {
        /// What was given.
        cidr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested address is not an assignable address of the pool.
    #[error("{ip} is not an assignable address of {cidr}")]
    OutOfRange {
        /// The address.
        ip: Ipv4Addr,
        /// The pool.
        cidr: Ipv4Cidr,
    },
    /// The requested address is held by another owner.
    #[error("{ip} is already allocated to {owner}")]
    Taken {
        /// The address.
        ip: Ipv4Addr,
        /// Its holder.
        owner: String,
    },
    /// The owner already holds a different address: release it first.
    #[error("{owner} already holds {ip}")]
    OwnerHasAddress {
        /// The owner.
        owner: String,
        /// What it holds.
        ip: Ipv4Addr,
    },
    /// Every assignable address of the pool is allocated.
    #[error("no free address left in {cidr} ({size} assignable addresses allocated)")]
    Exhausted {
        /// The pool.
        cidr: Ipv4Cidr,
        /// How many addresses it has.
        size: u64,
    },
    /// Every block of the cluster CIDR is allocated to a node.
    #[error(
        "no free /{node_prefix} subnet left in {cidr} (all {blocks} allocated): \
         use a larger --cluster-cidr"
    )]
    NoFreeSubnet {
        /// The cluster CIDR.
        cidr: Ipv4Cidr,
        /// The block size.
        node_prefix: u8,
        /// How many blocks it has.
        blocks: u64,
    },
    /// Other allocators kept winning the race for free addresses.
    #[error("gave up allocating in {cidr} after {MAX_ATTEMPTS} lost races")]
    Contended {
        /// The pool.
        cidr: Ipv4Cidr,
    },
    /// An allocation record in storage cannot be read.
    #[error("corrupt IPAM record at {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl Error {
    /// The pool has no free address.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Self::Exhausted { .. } | Self::NoFreeSubnet { .. })
    }

    /// The requested address belongs to somebody else.
    pub fn is_taken(&self) -> bool {
        matches!(self, Self::Taken { .. })
    }

    /// The requested address is outside the pool or not assignable.
    pub fn is_out_of_range(&self) -> bool {
        matches!(self, Self::OutOfRange { .. })
    }
}

/// An IPv4 network: an address with its host bits clear and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network `network/prefix`; host bits must be clear.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidCidr {
            cidr: format!("{network}/{prefix}"),
            reason: reason.to_owned(),
        };
        if prefix > 32 {
            return Err(invalid("the prefix length is at most 32"));
        }
        if u32::from(network) & !mask(prefix) != 0 {
            return Err(invalid("host bits are set"));
        }
        Ok(Self { network, prefix })
    }

    /// [`DEFAULT_SERVICES_CIDR`].
    pub fn services_default() -> Self {
        Self {
            network: Ipv4Addr::new(10, 96, 0, 0),
            prefix: 16,
        }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in the network (edges included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// The first and last assignable addresses. The network and broadcast
    /// addresses are not assignable, except in a /31 (RFC 3021: a
    /// point-to-point link has neither) and a /32 (one host).
    pub fn assignable(&self) -> (Ipv4Addr, Ipv4Addr) {
        let first = u32::from(self.network);
        let last = first | !mask(self.prefix);
        if self.prefix >= 31 {
            (first.into(), last.into())
        } else {
            ((first + 1).into(), (last - 1).into())
        }
    }

    /// How many addresses [`Self::assignable`] spans.
    pub fn size(&self) -> u64 {
        let (first, last) = self.assignable();
        u64::from(u32::from(last) - u32::from(first)) + 1
    }

    /// Whether `ip` may be handed out.
    pub fn is_assignable(&self, ip: Ipv4Addr) -> bool {
        let (first, last) = self.assignable();
        (first..=last).contains(&ip)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl Default for Ipv4Cidr {
    fn default() -> Self {
        Self::services_default()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidCidr {
            cidr: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected <IPv4 address>/<prefix length>"))?;
        let network = addr
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid("not an IPv4 address (only IPv4 pools are supported)"))?;
        let prefix = prefix
            .parse::<u8>()
            .map_err(|_| invalid("the prefix length is not a number"))?;
        Self::new(network, prefix).map_err(|e| match e {
            Error::InvalidCidr { reason, .. } => invalid(&reason),
            other => other,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct IpRecord {
    owner: String,
}

#[derive(Serialize, Deserialize)]
struct OwnerRecord {
    ip: Ipv4Addr,
}

/// An address pool persisted in a [`Storage`]. Cheap to clone; any number of
/// `Ipam`s (in any number of processes) may share one pool.
#[derive(Clone, Debug)]
pub struct Ipam {
    storage: Arc<dyn Storage>,
    cidr: Ipv4Cidr,
    prefix: String,
}

impl Ipam {
    /// The pool `cidr` under [`DEFAULT_PREFIX`].
    pub fn new(storage: Arc<dyn Storage>, cidr: Ipv4Cidr) -> Self {
        Self::with_prefix(storage, cidr, DEFAULT_PREFIX)
    }

    /// The pool `cidr` under another key prefix, for a second pool (overlay
    /// subnets, say) next to the services one.
    pub fn with_prefix(storage: Arc<dyn Storage>, cidr: Ipv4Cidr, prefix: &str) -> Self {
        Self {
            storage,
            cidr,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The pool.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The address `owner` holds, if any.
    pub async fn lookup(&self, owner: &str) -> Result<Option<Ipv4Addr>> {
        Ok(self.owner_record(owner).await?.map(|(ip, _)| ip))
    }

    /// Every allocation, address to owner, lowest address first.
    pub async fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let list = self.storage.list(&format!("{}/ip/", self.prefix)).await?;
        let mut all = list
            .items
            .iter()
            .map(|kv| Ok((self.ip_of_key(kv)?, decode::<IpRecord>(kv)?.owner)))
            .collect::<Result<Vec<_>>>()?;
        all.sort();
        Ok(all)
    }

    /// The lowest free address for `owner`, or the one it already holds.
    pub async fn allocate(&self, owner: &str) -> Result<Ipv4Addr> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(ip) = self.lookup(owner).await? {
                return Ok(ip);
            }
            let taken = self
                .allocations()
                .await?
                .into_iter()
                .map(|(ip, _)| ip)
                .collect::<BTreeSet<_>>();
            let (first, last) = self.cidr.assignable();
            let free = (u32::from(first)..=u32::from(last))
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(ip))
                .ok_or(Error::Exhausted {
                    cidr: self.cidr,
                    size: self.cidr.size(),
                })?;
            match self.create(free, owner).await {
                Ok(()) => return Ok(free),
                // Somebody took the address, or allocated for this owner
                // first: look again.
                Err(e) if e.is_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended { cidr: self.cidr })
    }

    /// Allocates `ip`, asked for by the user, to `owner`. Idempotent when
    /// `owner` holds it already.
    pub async fn reserve(&self, ip: Ipv4Addr, owner: &str) -> Result<()> {
        if !self.cidr.is_assignable(ip) {
            return Err(Error::OutOfRange {
                ip,
                cidr: self.cidr,
            });
        }
        loop {
            match self.lookup(owner).await? {
                Some(held) if held == ip => return Ok(()),
                Some(held) => {
                    return Err(Error::OwnerHasAddress {
                        owner: owner.to_owned(),
                        ip: held,
                    });
                }
                None => {}
            }
            match self.create(ip, owner).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_exists() => match self.storage.get(&self.ip_key(ip)).await {
                    Ok(kv) => {
                        let holder = decode::<IpRecord>(&kv)?.owner;
                        if holder != owner {
                            return Err(Error::Taken { ip, owner: holder });
                        }
                    }
                    // Released in the meantime: try again.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Frees the address of `owner` and returns it; `None` if it held none.
    pub async fn release(&self, owner: &str) -> Result<Option<Ipv4Addr>> {
        loop {
            let Some((ip, owner_kv)) = self.owner_record(owner).await? else {
                return Ok(None);
            };
            let ip_key = self.ip_key(ip);
            let mut txn = Txn::new().op(TxnOp::Delete {
                key: owner_kv.key,
                revision: Some(owner_kv.mod_revision),
            });
            match self.storage.get(&ip_key).await {
                Ok(kv) if decode::<IpRecord>(&kv)?.owner == owner => {
                    txn = txn.op(TxnOp::Delete {
                        key: ip_key,
                        revision: Some(kv.mod_revision),
                    });
                }
                // The index points at an address that is not ours (a record
                // written by hand): drop only the index.
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            match self.storage.txn(txn).await {
                Ok(_) => return Ok(Some(ip)),
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn create(&self, ip: Ipv4Addr, owner: &str) -> storage::Result<()> {
        let ip_record = encode(&IpRecord {
            owner: owner.to_owned(),
        });
        let owner_record = encode(&OwnerRecord { ip });
        let txn = Txn::new()
            .op(TxnOp::Create {
                key: self.ip_key(ip),
                value: ip_record,
                lease: None,
            })
            .op(TxnOp::Create {
                key: self.owner_key(owner),
                value: owner_record,
                lease: None,
            });
        self.storage.txn(txn).await.map(drop)
    }

    async fn owner_record(&self, owner: &str) -> Result<Option<(Ipv4Addr, KeyValue)>> {
        match self.storage.get(&self.owner_key(owner)).await {
            Ok(kv) => Ok(Some((decode::<OwnerRecord>(&kv)?.ip, kv))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn ip_key(&self, ip: Ipv4Addr) -> String {
        format!("{}/ip/{ip}", self.prefix)
    }

    fn owner_key(&self, owner: &str) -> String {
        format!("{}/owner/{owner}", self.prefix)
    }

    fn ip_of_key(&self, kv: &KeyValue) -> Result<Ipv4Addr> {
        kv.key
            .rsplit('/')
            .next()
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| Error::Corrupt {
                key: kv.key.clone(),
                reason: "the key does not end with an IPv4 address".to_owned(),
            })
    }
}

fn encode<T: Serialize>(record: &T) -> Bytes {
    // Two plain structs of strings and addresses always serialize.
    Bytes::from(serde_json::to_vec(record).unwrap_or_default())
}

fn decode<T: for<'de> Deserialize<'de>>(kv: &KeyValue) -> Result<T> {
    serde_json::from_slice(&kv.value).map_err(|e| Error::Corrupt {
        key: kv.key.clone(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
