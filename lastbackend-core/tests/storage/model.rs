//! Model-based test: random write sequences run against a backend and a
//! reference model (a `BTreeMap` and the revisions the backend returned),
//! compared after every step, errors included.
//!
//! The model does not predict revision numbers (a shared etcd may be written
//! by others): it takes each returned revision, checks it is greater than the
//! last one, and expects it as the `mod_revision` of every key written.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use lastbackend_core::storage::{Error, Revision, Storage, Txn, TxnOp};
use proptest::prelude::*;

const KEYS: &[&str] = &["m/a", "m/ab", "m/a/b", "m/b", "m/c"];

/// How a guarded op picks its expected revision.
#[derive(Clone, Copy, Debug)]
enum Guard {
    Right,
    Wrong,
}

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8),
    Set(usize, u8, Guard),
    SetUnconditional(usize, u8),
    Del(usize, Option<Guard>),
    Txn(Vec<TxnStep>),
}

#[derive(Clone, Debug)]
enum TxnStep {
    Create(usize, u8),
    Update(usize, u8, Guard),
    Upsert(usize, u8),
    Delete(usize, Option<Guard>),
    Check(usize, Guard),
}

impl TxnStep {
    fn key(&self) -> usize {
        match self {
            Self::Create(k, _)
            | Self::Update(k, ..)
            | Self::Upsert(k, _)
            | Self::Delete(k, _)
            | Self::Check(k, _) => *k,
        }
    }
}

fn guard() -> impl Strategy<Value = Guard> {
    prop_oneof![3 => Just(Guard::Right), 1 => Just(Guard::Wrong)]
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn step() -> impl Strategy<Value = TxnStep> {
    prop_oneof![
        (key(), any::<u8>()).prop_map(|(k, v)| TxnStep::Create(k, v)),
        (key(), any::<u8>(), guard()).prop_map(|(k, v, g)| TxnStep::Update(k, v, g)),
        (key(), any::<u8>()).prop_map(|(k, v)| TxnStep::Upsert(k, v)),
        (key(), proptest::option::of(guard())).prop_map(|(k, g)| TxnStep::Delete(k, g)),
        (key(), guard()).prop_map(|(k, g)| TxnStep::Check(k, g)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (key(), any::<u8>(), guard()).prop_map(|(k, v, g)| Op::Set(k, v, g)),
        (key(), any::<u8>()).prop_map(|(k, v)| Op::SetUnconditional(k, v)),
        (key(), proptest::option::of(guard())).prop_map(|(k, g)| Op::Del(k, g)),
        proptest::collection::vec(step(), 0..4).prop_map(|steps| {
            let mut seen = HashSet::new();
            Op::Txn(steps.into_iter().filter(|s| seen.insert(s.key())).collect())
        }),
    ]
}

/// What the model expects of one operation.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    Exists,
    Conflict,
}

impl Outcome {
    fn of(result: &Result<Revision, Error>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(e) if e.is_not_found() => Self::NotFound,
            Err(e) if e.is_exists() => Self::Exists,
            Err(e) if e.is_conflict() => Self::Conflict,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    value: Bytes,
    create_revision: Revision,
    mod_revision: Revision,
}

#[derive(Debug, Default)]
struct Model {
    keys: BTreeMap<&'static str, Entry>,
    revision: Revision,
}

impl Model {
    fn mod_revision(&self, k: usize) -> Revision {
        self.keys.get(KEYS[k]).map_or(0, |e| e.mod_revision)
    }

    /// The revision a guard asks for: the key's own, or one it cannot have.
    fn pick(&self, k: usize, guard: Guard) -> Revision {
        match guard {
            Guard::Right => self.mod_revision(k),
            Guard::Wrong => self.mod_revision(k) + 1000,
        }
    }

    fn to_txn_op(&self, step: &TxnStep) -> TxnOp {
        let value = |v: &u8| Bytes::from(vec![*v]);
        match step {
            TxnStep::Create(k, v) => TxnOp::Create {
                key: KEYS[*k].into(),
                value: value(v),
                lease: None,
            },
            TxnStep::Update(k, v, g) => TxnOp::Update {
                key: KEYS[*k].into(),
                value: value(v),
                revision: self.pick(*k, *g),
                lease: None,
            },
            TxnStep::Upsert(k, v) => TxnOp::Upsert {
                key: KEYS[*k].into(),
                value: value(v),
                lease: None,
            },
            TxnStep::Delete(k, g) => TxnOp::Delete {
                key: KEYS[*k].into(),
                revision: g.map(|g| self.pick(*k, g)),
            },
            TxnStep::Check(k, g) => TxnOp::Check {
                key: KEYS[*k].into(),
                revision: self.pick(*k, *g),
            },
        }
    }

    /// The outcome of `ops` on the model, without applying them.
    fn check(&self, ops: &[TxnOp]) -> Outcome {
        for op in ops {
            let (key, present) = match op {
                TxnOp::Create { key, .. }
                | TxnOp::Update { key, .. }
                | TxnOp::Upsert { key, .. }
                | TxnOp::Delete { key, .. }
                | TxnOp::Check { key, .. } => (key.as_str(), self.keys.get(key.as_str())),
                _ => unreachable!("the model makes no other ops"),
            };
            let actual = present.map_or(0, |e| e.mod_revision);
            let outcome = match op {
                TxnOp::Create { .. } if present.is_some() => Outcome::Exists,
                TxnOp::Update { .. } | TxnOp::Delete { .. } if present.is_none() => {
                    Outcome::NotFound
                }
                TxnOp::Update { revision, .. } if *revision != actual => Outcome::Conflict,
                TxnOp::Delete {
                    revision: Some(r), ..
                } if *r != actual => Outcome::Conflict,
                TxnOp::Check { revision, .. } if *revision != actual => Outcome::Conflict,
                _ => Outcome::Ok,
            };
            if outcome != Outcome::Ok {
                return outcome;
            }
            let _ = key;
        }
        Outcome::Ok
    }

    fn apply(&mut self, ops: Vec<TxnOp>, revision: Revision) {
        for op in ops {
            match op {
                TxnOp::Create { key, value, .. }
                | TxnOp::Update { key, value, .. }
                | TxnOp::Upsert { key, value, .. } => {
                    let key = KEYS.iter().find(|k| **k == key).unwrap();
                    let create_revision =
                        self.keys.get(key).map_or(revision, |e| e.create_revision);
                    self.keys.insert(
                        key,
                        Entry {
                            value,
                            create_revision,
                            mod_revision: revision,
                        },
                    );
                }
                TxnOp::Delete { key, .. } => {
                    self.keys.remove(key.as_str());
                }
                _ => {}
            }
        }
    }
}

async fn check_sequence(s: Arc<dyn Storage>, ops: Vec<Op>) {
    let mut model = Model {
        revision: s.revision().await.unwrap(),
        ..Model::default()
    };
    for op in ops {
        let txn_ops: Vec<TxnOp> = match &op {
            Op::Put(k, v) => vec![model.to_txn_op(&TxnStep::Create(*k, *v))],
            Op::Set(k, v, g) => vec![model.to_txn_op(&TxnStep::Update(*k, *v, *g))],
            Op::SetUnconditional(k, v) => vec![model.to_txn_op(&TxnStep::Upsert(*k, *v))],
            Op::Del(k, g) => vec![model.to_txn_op(&TxnStep::Delete(*k, *g))],
            Op::Txn(steps) => steps.iter().map(|s| model.to_txn_op(s)).collect(),
        };
        let expected = model.check(&txn_ops);
        let result = match txn_ops.clone().pop() {
            Some(TxnOp::Create { key, value, lease }) if matches!(op, Op::Put(..)) => {
                s.put(&key, value, lease).await
            }
            Some(TxnOp::Update {
                key,
                value,
                revision,
                lease,
            }) if matches!(op, Op::Set(..)) => s.set(&key, value, revision, lease).await,
            Some(TxnOp::Upsert { key, value, lease }) if matches!(op, Op::SetUnconditional(..)) => {
                s.set_unconditional(&key, value, lease).await
            }
            Some(TxnOp::Delete { key, revision }) if matches!(op, Op::Del(..)) => {
                s.del(&key, revision).await
            }
            _ => {
                s.txn(Txn {
                    ops: txn_ops.clone(),
                })
                .await
            }
        };
        assert_eq!(Outcome::of(&result), expected, "{op:?} gave {result:?}");
        if let Ok(revision) = result {
            let writes = txn_ops.iter().any(|op| !matches!(op, TxnOp::Check { .. }));
            if writes {
                assert!(
                    revision > model.revision,
                    "{op:?}: revision {revision} after {}",
                    model.revision
                );
                model.revision = revision;
                model.apply(txn_ops, revision);
            } else {
                assert!(revision >= model.revision, "{op:?}: revision went back");
            }
        }
        compare(&s, &model).await;
    }
}

async fn compare(s: &Arc<dyn Storage>, model: &Model) {
    let list = s.list("m/").await.unwrap();
    assert!(list.revision >= model.revision);
    let got: BTreeMap<_, _> = list
        .items
        .into_iter()
        .map(|kv| {
            assert_eq!(kv.lease, None);
            (
                kv.key,
                Entry {
                    value: kv.value,
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                },
            )
        })
        .collect();
    let want: BTreeMap<_, _> = model
        .keys
        .iter()
        .map(|(k, e)| (k.to_string(), e.clone()))
        .collect();
    assert_eq!(got, want);
}

/// Runs the model test: 64 random sequences of up to 40 operations, each on a
/// fresh store from `make`, in a runtime of its own.
pub(crate) fn run<F, Fut, G>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<(Arc<dyn Storage>, G)>>,
{
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let ops = proptest::collection::vec(op(), 1..40);
    let result = runner.run(&ops, |ops| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The battery's makers skip (None) only when the backend's
            // server is missing, which the first case already said.
            if let Some((store, _guard)) = make().await {
                check_sequence(store, ops).await;
            }
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
