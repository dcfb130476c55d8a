//! Namespace quotas, as the original: the namespace's `limits` cap the sum
//! over its services of replicas × the containers' limits. In a namespace
//! with limits a container without any limit counts 128 MiB and 0.1 CPU; one
//! that gives only one of them must give both.

use super::{ApiError, Result};
use crate::model::{Namespace, Resources, Service, ServiceSpec};
use crate::units::{Cpu, Ram};

/// What a container without limits counts in a namespace with limits.
const DEFAULT_RAM: u64 = 128 << 20;
/// See [`DEFAULT_RAM`].
const DEFAULT_CPU_MILLIS: u64 = 100;

/// RAM in bytes and CPU in millicores held by services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    ram: u64,
    cpu: u64,
}

impl Usage {
    /// As the namespace's `status.allocated`.
    pub(crate) fn resources(self) -> Resources {
        Resources {
            ram: Some(Ram::from_bytes(self.ram)),
            cpu: Some(Cpu::from_millis(self.cpu)),
            storage: None,
        }
    }
}

/// Whether the namespace has a quota.
fn limited(ns: &Namespace) -> bool {
    let limits = ns.spec.resources.limits;
    limits.ram.is_some() || limits.cpu.is_some()
}

/// A namespace's limits must give both RAM and CPU, or neither.
pub(crate) fn check_namespace_limits(limits: &Resources) -> Result<()> {
    match (limits.ram, limits.cpu) {
        (None, Some(_)) => Err(ApiError::QuotaExceeded(
            "resources ram limit is required".into(),
        )),
        (Some(_), None) => Err(ApiError::QuotaExceeded(
            "resources cpu limit is required".into(),
        )),
        _ => Ok(()),
    }
}

/// What one service holds against its namespace's quota. Destroyed
/// services hold nothing. `strict` (a service being written) refuses a
/// container with only one of its limits; otherwise (services already
/// stored, perhaps before the namespace had limits) the missing one counts
/// its default.
pub(crate) fn service_usage(ns: &Namespace, spec: &ServiceSpec, strict: bool) -> Result<Usage> {
    if spec.state.destroy {
        return Ok(Usage::default());
    }
    let limited = limited(ns);
    let mut per_pod = Usage::default();
    for c in &spec.template.containers {
        let (ram, cpu) = match (c.resources.limits.ram, c.resources.limits.cpu) {
            (Some(ram), Some(cpu)) => (ram.bytes(), cpu.millis()),
            (None, None) if limited => (DEFAULT_RAM, DEFAULT_CPU_MILLIS),
            (Some(ram), None) if limited && !strict => (ram.bytes(), DEFAULT_CPU_MILLIS),
            (None, Some(cpu)) if limited && !strict => (DEFAULT_RAM, cpu.millis()),
            (Some(_), None) if limited => {
                return Err(ApiError::QuotaExceeded(
                    "resources cpu limit is required".into(),
                ));
            }
            (None, Some(_)) if limited => {
                return Err(ApiError::QuotaExceeded(
                    "resources ram limit is required".into(),
                ));
            }
            (ram, cpu) => (ram.map_or(0, Ram::bytes), cpu.map_or(0, Cpu::millis)),
        };
        per_pod.ram = per_pod.ram.saturating_add(ram);
        per_pod.cpu = per_pod.cpu.saturating_add(cpu);
    }
    let replicas = u64::from(spec.replicas);
    Ok(Usage {
        ram: per_pod.ram.saturating_mul(replicas),
        cpu: per_pod.cpu.saturating_mul(replicas),
    })
}

/// The sum over `services` (the namespace's services as they are or
/// would be); those named in `strict` are checked strictly.
pub(crate) fn total<'a>(
    ns: &Namespace,
    services: impl IntoIterator<Item = &'a Service>,
    strict: &[&str],
) -> Result<Usage> {
    services.into_iter().try_fold(Usage::default(), |acc, svc| {
        let u = service_usage(ns, &svc.spec, strict.contains(&svc.meta.name.as_str()))?;
        Ok(Usage {
            ram: acc.ram.saturating_add(u.ram),
            cpu: acc.cpu.saturating_add(u.cpu),
        })
    })
}

/// Fails when `after` exceeds the namespace's limits and grew from
/// `before` (a change that frees resources, or none, always passes: the
/// original did not check unchanged requests). RAM is checked first.
pub(crate) fn check(ns: &Namespace, before: Usage, after: Usage) -> Result<()> {
    let limits = ns.spec.resources.limits;
    if let Some(ram) = limits.ram
        && after.ram > ram.bytes()
        && after.ram > before.ram
    {
        return Err(ApiError::QuotaExceeded(
            "resources ram limit exceeded".into(),
        ));
    }
    if let Some(cpu) = limits.cpu
        && after.cpu > cpu.millis()
        && after.cpu > before.cpu
    {
        return Err(ApiError::QuotaExceeded(
            "resources cpu limit exceeded".into(),
        ));
    }
    Ok(())
}
