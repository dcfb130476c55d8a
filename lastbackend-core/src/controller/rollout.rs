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
    let (new_target, old) = rolling_step_many(replicas, max_surge, max_unavailable, new, &[old]);
    (new_target, old[0])
}

/// [`rolling_step`] with several old sides (a new rollout started before
/// the last one finished), shrunk in the order given while the
/// availability budget lasts.
pub fn rolling_step_many(
    replicas: u32,
    max_surge: u32,
    max_unavailable: u32,
    new: Side,
    olds: &[Side],
) -> (u32, Vec<u32>) {
    let surge = if max_surge == 0 && max_unavailable == 0 {
        1
    } else {
        max_surge
    };
    let max_total = replicas + surge;
    let min_ready = replicas.saturating_sub(max_unavailable);

    let total: u32 =
        new.target.max(new.pods) + olds.iter().map(|o| o.target.max(o.pods)).sum::<u32>();
    let room = max_total.saturating_sub(total);
    let new_target = if new.target >= replicas {
        replicas
    } else {
        (new.target + room).min(replicas)
    };

    let ready = new.ready + olds.iter().map(|o| o.ready).sum::<u32>();
    let mut budget = ready.saturating_sub(min_ready);
    let old_targets = olds
        .iter()
        .map(|old| {
            let unready = old.live.saturating_sub(old.ready);
            let pending = old.live.saturating_sub(old.target);
            let removal = old.target.min((unready + budget).saturating_sub(pending));
            // Ready pods this side's removals (pending ones included) take.
            let ready_lost = (removal + pending).saturating_sub(unready);
            let already_lost = pending.saturating_sub(unready);
            budget = budget.saturating_sub(ready_lost - already_lost.min(ready_lost));
            old.target - removal
        })
        .collect();
    (new_target, old_targets)
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
    fn several_old_sides_share_one_availability_budget() {
        // 4 replicas, 1 unavailable: 4 ready over two old sides, so one
        // ready pod may go, from the first side only.
        let stale = side(2, 2, 2, 2);
        let active = side(2, 2, 2, 2);
        let (new, olds) = rolling_step_many(4, 1, 1, Side::default(), &[stale, active]);
        assert_eq!((new, olds), (1, vec![1, 2]));
        // The first side's unready pods cost nothing.
        let stale = side(2, 2, 2, 0);
        let (_, olds) = rolling_step_many(4, 1, 1, Side::default(), &[stale, side(4, 4, 4, 4)]);
        assert_eq!(olds, [0, 3]);
    }

    #[test]
    fn unready_old_pods_go_without_costing_availability() {
        let old = side(4, 4, 4, 1);
        assert_eq!(rolling_step(4, 1, 0, Side::default(), old), (1, 1));
    }
}
