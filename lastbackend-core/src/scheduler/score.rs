//! Scores for the nodes that pass the filters, and the default policy.

use super::snapshot::{Hot, Resolved};
use super::{Placement, PodRequest, Policy, Snapshot, SnapshotNode, Unschedulable};

/// Every [`super::Filter`], then the highest score of
/// [`least_allocated`] + [`spread`]; ties go to the first node by name.
///
/// Both terms lie in `0..=1`. A service's first replica on a node costs 0.5
/// of spread, more than least-allocated differences between nodes of
/// similar load, so replicas spread first and pack by free room second.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn place(&self, snapshot: &Snapshot, request: &PodRequest) -> Result<Placement, Unschedulable> {
        let resolved = snapshot.resolve(request);
        // The scan visits nodes by increasing index and the service's counts
        // are sorted by index, so one cursor finds each node's count.
        let mut counts = resolved.spread.iter().peekable();
        let (mut top, mut best) = (f64::NEG_INFINITY, None);
        let why = snapshot.scan(&resolved, |index, hot| {
            let mut same_service = 0;
            while let Some(&&(at, count)) = counts.peek() {
                if at > index {
                    break;
                }
                counts.next();
                if at == index {
                    same_service = count;
                }
            }
            let score = free_fraction(hot, &resolved) + spread(same_service);
            // Strictly greater: on a tie the earlier (smaller) name stays.
            if score > top {
                (top, best) = (score, Some(index));
            }
        });
        match best {
            Some(index) => Ok(Placement {
                node: snapshot.node_at(index).name().to_owned(),
                score: top,
            }),
            None => Err(why),
        }
    }
}

/// The mean of the free RAM and CPU fractions of `node` after placing
/// `request` (0 for a resource the node has none of), in `0..=1`; higher
/// means emptier. For a node the request fits on.
pub fn least_allocated(node: &SnapshotNode, request: &PodRequest) -> f64 {
    let hot = Hot::of(node);
    let free_ram = hot.free_ram.saturating_sub(request.ram.bytes());
    let free_cpu = hot.free_cpu.saturating_sub(request.cpu.millis());
    mean_fraction(&hot, free_ram, free_cpu)
}

/// The spread term for a node already running `pods_of_service` pods of the
/// service being placed: `1 / (1 + n)`, so each further replica on the same
/// node is worth less.
pub fn spread(pods_of_service: u32) -> f64 {
    // Most nodes run none of the service: skip the division for them.
    if pods_of_service == 0 {
        1.0
    } else {
        1.0 / (1.0 + f64::from(pods_of_service))
    }
}

/// [`least_allocated`] on the precomputed figures, for a node that passed
/// the RAM and CPU filters.
fn free_fraction(hot: &Hot, request: &Resolved<'_>) -> f64 {
    mean_fraction(hot, hot.free_ram - request.ram, hot.free_cpu - request.cpu)
}

fn mean_fraction(hot: &Hot, free_ram: u64, free_cpu: u64) -> f64 {
    // Through i64: x86-64 converts a signed integer in one instruction and an
    // unsigned one in several; free bytes and millicores are far below 2^63
    // (and saturate there rather than wrap).
    let float = |n: u64| i64::try_from(n).unwrap_or(i64::MAX) as f64;
    (float(free_ram) * hot.ram_scale + float(free_cpu) * hot.cpu_scale) / 2.0
}
