//! The rolling update's arithmetic, pure: from the counts of the new and
//! the old deployment, the replicas each should have next.

/// One side of a rollout as the store shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// Its `spec.replicas`.
    pub target: u32,
    /// Pods that exist, including those being removed (they still hold a
    /// slot until their node confirms).
    pub pods: u32,
    /// Pods not being removed.
    pub live: u32,
    /// Live pods that are ready.
    pub ready: u32,
}

/// The next targets `(new, old)` of a rolling update to `replicas` pods
/// that keeps at most `replicas + max_surge` pods and at least
/// `replicas - max_unavailable` ready ones. With both at 0 a surge of 1 is
/// used, or the rollout could never move.
///
/// The new side grows into the room the surge leaves; the old side shrinks
/// by its unready pods (removing them costs no availability) plus the ready
/// pods above the minimum, less the removals still pending. The old side's
/// unready pods go first because the deployment reconciler removes in that
/// order.
pub fn rolling_step(
    replicas: u32,
    max_surge: u32,
    max_unavailable: u32,
    new: Side,
    old: Side,
) -> (u32, u32) {
    let surge = if max_surge == 0 && max_unavailable == 0 {
        1
    } else {
        max_surge
    };
    let max_total = replicas + surge;
    let min_ready = replicas.saturating_sub(max_unavailable);

    let total = new.target.max(new.pods) + old.target.max(old.pods);
    let room = max_total.saturating_sub(total);
    let new_target = if new.target >= replicas {
        replicas
    } else {
        (new.target + room).min(replicas)
    };

    let ready = new.ready + old.ready;
    let old_unready = old.live.saturating_sub(old.ready);
    let pending = old.live.saturating_sub(old.target);
    let removable = (old_unready + ready.saturating_sub(min_ready)).saturating_sub(pending);
    let old_target = old.target.saturating_sub(removable);
    (new_target, old_target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(target: u32, pods: u32, live: u32, ready: u32) -> Side {
        Side {
            target,
            pods,
            live,
            ready,
        }
    }

    #[test]
    fn first_step_surges_and_takes_down_the_unavailable_allowance() {
        let old = side(4, 4, 4, 4);
        assert_eq!(rolling_step(4, 1, 1, Side::default(), old), (1, 3));
        assert_eq!(rolling_step(4, 0, 0, Side::default(), old), (1, 4));
        assert_eq!(rolling_step(4, 0, 2, Side::default(), old), (0, 2));
    }

    #[test]
    fn waits_for_removals_and_readiness() {
        // One old pod being removed still holds its slot.
        let old = side(3, 4, 3, 3);
        let new = side(1, 1, 1, 0);
        assert_eq!(rolling_step(4, 1, 1, new, old), (1, 3));
        // The new pod is ready, the removed one gone: next step.
        let old = side(3, 3, 3, 3);
        let new = side(1, 1, 1, 1);
        assert_eq!(rolling_step(4, 1, 1, new, old), (2, 2));
    }

    #[test]
    fn unready_old_pods_go_without_costing_availability() {
        let old = side(4, 4, 4, 1);
        assert_eq!(rolling_step(4, 1, 0, Side::default(), old), (1, 1));
    }
}
