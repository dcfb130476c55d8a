//! [`Membership`] against a recording fake control plane, on paused time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use crate::api::{ControlPlane, ControlPlaneError, ControlPlaneResult, Membership};
use crate::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use crate::model::{Kind, Node, Presence};
use crate::storage::Revision;

/// What the fake answers to the next member call.
#[derive(Clone, Copy, Debug)]
enum Answer {
    NotFound,
    Unreachable,
}

#[derive(Clone, Debug, PartialEq)]
enum Call {
    Register(MemberReport),
    Status(MemberReport),
}

/// Records member calls with the time since it was made; answers from a
/// script, then with success.
struct Recorder {
    start: Instant,
    calls: Mutex<Vec<(u128, Call)>>,
    script: Mutex<VecDeque<Option<Answer>>>,
}

impl Recorder {
    fn new(script: impl IntoIterator<Item = Option<Answer>>) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            calls: Mutex::default(),
            script: Mutex::new(script.into_iter().collect()),
        })
    }

    fn answer(&self, call: Call) -> ControlPlaneResult<()> {
        let at = (Instant::now() - self.start).as_millis();
        self.calls.lock().unwrap().push((at, call));
        match self.script.lock().unwrap().pop_front().flatten() {
            None => Ok(()),
            Some(Answer::NotFound) => Err(ControlPlaneError::Rejected {
                code: 404,
                message: "not found".to_owned(),
            }),
            Some(Answer::Unreachable) => Err(ControlPlaneError::Unreachable("down".to_owned())),
        }
    }

    /// The calls so far as (milliseconds, "register" | "status").
    fn log(&self) -> Vec<(u128, &'static str)> {
        let calls = self.calls.lock().unwrap();
        let name = |call: &Call| match call {
            Call::Register(_) => "register",
            Call::Status(_) => "status",
        };
        calls.iter().map(|(at, call)| (*at, name(call))).collect()
    }

    fn last(&self) -> Call {
        self.calls.lock().unwrap().last().unwrap().1.clone()
    }
}

#[async_trait]
impl ControlPlane for Recorder {
    async fn register_node(&self, _: &str, _: NodeRegistration) -> ControlPlaneResult<Node> {
        unreachable!("members register as members")
    }
    async fn node_status(&self, _: &str, _: NodeStatusReport) -> ControlPlaneResult<Ack> {
        unreachable!("members push member status")
    }
    async fn node_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<NodeManifest> {
        unreachable!("the heartbeat reads no manifest")
    }
    async fn register_member(
        &self,
        kind: Kind,
        _: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<()> {
        assert_eq!(kind, Kind::Exporter);
        self.answer(Call::Register(report))
    }
    async fn member_status(
        &self,
        kind: Kind,
        _: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<Ack> {
        assert_eq!(kind, Kind::Exporter);
        self.answer(Call::Status(report)).map(|()| Ack::default())
    }
    async fn ingress_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        unreachable!("the heartbeat reads no manifest")
    }
    async fn discovery_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        unreachable!("the heartbeat reads no manifest")
    }
}

fn ready() -> MemberReport {
    MemberReport {
        presence: Presence {
            ready: true,
            online: true,
        },
        http: Some("10.0.0.1:2964".parse().unwrap()),
        ..MemberReport::default()
    }
}

/// Runs the heartbeat of exporter `e1` every 5 s; returns the report's
/// sender, the shutdown trigger and the task.
fn start(
    plane: &Arc<Recorder>,
) -> (
    watch::Sender<MemberReport>,
    oneshot::Sender<()>,
    JoinHandle<()>,
) {
    let (report, reports) = watch::channel(ready());
    let (stop, stopped) = oneshot::channel::<()>();
    let membership =
        Membership::new(plane.clone(), Kind::Exporter, "e1").every(Duration::from_secs(5));
    let task = tokio::spawn(membership.run(reports, async {
        let _ = stopped.await;
    }));
    (report, stop, task)
}

async fn at(millis: u64) {
    tokio::time::sleep_until(Instant::now() + Duration::from_millis(millis)).await;
}

#[tokio::test(start_paused = true)]
async fn registers_first_then_pushes_every_interval() {
    let plane = Recorder::new([]);
    let (_report, _stop, _task) = start(&plane);
    at(11_000).await;
    assert_eq!(
        plane.log(),
        [(0, "register"), (5_000, "status"), (10_000, "status")]
    );
    assert_eq!(plane.last(), Call::Status(ready()));
}

#[tokio::test(start_paused = true)]
async fn a_404_registers_again_at_once() {
    let plane = Recorder::new([None, Some(Answer::NotFound)]);
    let (_report, _stop, _task) = start(&plane);
    at(11_000).await;
    assert_eq!(
        plane.log(),
        [
            (0, "register"),
            (5_000, "status"),
            (5_000, "register"),
            (10_000, "status")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_is_retried_with_the_backoff() {
    let down = Some(Answer::Unreachable);
    let plane = Recorder::new([down, down, down, None, down]);
    let (_report, _stop, _task) = start(&plane);
    at(7_000).await;
    // 200 ms doubling; the success resets it.
    assert_eq!(
        plane.log(),
        [
            (0, "register"),
            (200, "register"),
            (600, "register"),
            (1_400, "register"),
            (6_400, "status"),
            (6_600, "status"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_report_is_pushed_at_once() {
    let plane = Recorder::new([]);
    let (report, _stop, _task) = start(&plane);
    at(1_000).await;
    report.send_modify(|r| r.presence.ready = false);
    at(7_000).await;
    assert_eq!(
        plane.log(),
        [(0, "register"), (1_000, "status"), (6_000, "status")]
    );
    let Call::Status(pushed) = plane.last() else {
        panic!("not a push");
    };
    assert!(!pushed.presence.ready);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_it_after_a_push_marked_not_ready() {
    let plane = Recorder::new([]);
    let (report, stop, task) = start(&plane);
    at(7_000).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(
        plane.log(),
        [(0, "register"), (5_000, "status"), (7_000, "status")]
    );
    let mut stopping = ready();
    stopping.presence.ready = false;
    assert_eq!(plane.last(), Call::Status(stopping));
    drop(report);
    at(20_000).await;
    assert_eq!(plane.log().len(), 3, "no push after the shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_sender_keeps_the_last_report() {
    let plane = Recorder::new([]);
    let (report, _stop, _task) = start(&plane);
    drop(report);
    at(11_000).await;
    assert_eq!(
        plane.log(),
        [(0, "register"), (5_000, "status"), (10_000, "status")]
    );
}
