//! Recording fakes of the five runtime traits, for unit tests of the agent
//! and of code built on it. They keep their state in memory, record every
//! call as `"<method> <argument>"`, and let a test steer them (make a
//! container exit, an image pull fail).
//!
//! ```
//! use lastbackend_runtime::fake::FakeCri;
//! use lastbackend_runtime::{ContainerSpec, Cri};
//!
//! # tokio_test_block_on(async {
//! let cri = FakeCri::new();
//! let id = cri.create(&ContainerSpec::new("web", "busybox")).await.unwrap();
//! cri.start(&id).await.unwrap();
//! cri.exit("web", 137);
//! assert_eq!(cri.calls()[0], "create web");
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     futures::executor::block_on(f)
//! # }
//! ```

mod cri;
mod others;

use std::sync::{Mutex, PoisonError};

pub use cri::{FakeContainer, FakeCri};
pub use others::{FakeCii, FakeCni, FakeCpi, FakeCsi, VolumeFiles};

/// The record of calls a fake keeps.
#[derive(Default)]
struct Calls(Mutex<Vec<String>>);

impl Calls {
    fn record(&self, method: &str, argument: &str) {
        let line = if argument.is_empty() {
            method.to_owned()
        } else {
            format!("{method} {argument}")
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    fn all(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|call| call.starts_with(prefix))
            .count()
    }
}
