//! The driver over a recording fake runner: when it reads back, how many
//! batches it sends, and what it does after a failed one.

use std::sync::Mutex as StdMutex;

use super::*;

/// Records every call; answers `list` with "no such table" and fails the
/// next batch when told to.
#[derive(Debug, Default)]
struct Fake {
    calls: StdMutex<Vec<String>>,
    fail_next_batch: StdMutex<bool>,
}

impl Fake {
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut self.calls.lock().unwrap())
    }
}

#[async_trait]
impl NftRunner for Fake {
    async fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, NftError> {
        let call = format!("{} | {}", args.join(" "), input.unwrap_or(""));
        self.calls.lock().unwrap().push(call);
        if args.contains(&"list") {
            return Err(NftError::Failed {
                args: args.join(" "),
                stderr: "Error: No such file or directory".into(),
            });
        }
        if input.is_some() && std::mem::take(&mut *self.fail_next_batch.lock().unwrap()) {
            return Err(NftError::Failed {
                args: args.join(" "),
                stderr: "Error: Could not process rule".into(),
            });
        }
        Ok(String::new())
    }
}

fn endpoints(upstreams: &[&str]) -> BTreeMap<String, EndpointSpec> {
    let spec = EndpointSpec {
        ip: Some("10.96.0.1".parse().unwrap()),
        domain: "a.demo.lb.local".into(),
        ports: vec!["80:8080".parse().unwrap()],
        upstreams: upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    };
    BTreeMap::from([("demo:a".to_owned(), spec)])
}

#[tokio::test]
async fn reads_back_once_then_sends_only_differences() {
    let fake = Arc::new(Fake::default());
    let cpi = Nftables::new(fake.clone(), Spread::Random);
    cpi.sync(&endpoints(&["10.0.0.1"])).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("-j list table ip lastbackend"));
    assert!(calls[1].starts_with("-f - | table ip lastbackend {"));

    assert!(
        cpi.sync(&endpoints(&["10.0.0.1"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.calls(), Vec::<String>::new());

    let sync = cpi.sync(&endpoints(&["10.0.0.2"])).await.unwrap();
    assert_eq!(sync.backends_changed, 2);
    let calls = fake.calls();
    assert_eq!(
        calls,
        [
            "-f - | delete element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 0 }\n\
          add element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 0 : 10.0.0.2 . 8080 }\n"
        ]
    );
}

#[tokio::test]
async fn a_failed_batch_makes_the_next_sync_read_back() {
    let fake = Arc::new(Fake::default());
    let cpi = Nftables::new(fake.clone(), Spread::Random);
    cpi.sync(&endpoints(&["10.0.0.1"])).await.unwrap();
    fake.calls();
    *fake.fail_next_batch.lock().unwrap() = true;
    let err = cpi.sync(&endpoints(&["10.0.0.2"])).await.unwrap_err();
    assert!(
        err.is_backend() && err.to_string().contains("Could not process rule"),
        "{err}"
    );
    fake.calls();
    cpi.sync(&endpoints(&["10.0.0.2"])).await.unwrap();
    assert!(fake.calls()[0].starts_with("-j list table"));
}

#[tokio::test]
async fn teardown_deletes_the_table_and_the_next_sync_rebuilds_it() {
    let fake = Arc::new(Fake::default());
    let cpi = Nftables::new(fake.clone(), Spread::Random);
    cpi.sync(&endpoints(&["10.0.0.1"])).await.unwrap();
    fake.calls();
    cpi.teardown().await.unwrap();
    assert_eq!(fake.calls(), ["delete table ip lastbackend | "]);
    cpi.sync(&endpoints(&["10.0.0.1"])).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "no read-back after teardown: {calls:?}");
    assert!(calls[0].starts_with("-f - | table ip lastbackend {"));
}
