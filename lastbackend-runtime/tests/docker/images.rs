//! The image store and the offline image.

use futures::future::join_all;
use lastbackend_runtime::docker::offline;
use lastbackend_runtime::{Cii, Cri, Error, LogOptions};

use super::streams::output;
use super::support::{Scope, cli, docker};

#[tokio::test]
async fn the_offline_import_is_idempotent_under_concurrent_calls() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let reference = format!("lastbackend/test-busybox:{}", scope.suffix);
    scope.image(&reference);
    let imports = (0..3).map(|_| offline::import_busybox(&docker, &reference));
    let images: Vec<_> = join_all(imports)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        images.iter().all(|image| image.id == images[0].id),
        "{images:?}"
    );
    assert!(images[0].tags.contains(&reference), "{images:?}");
    let again = offline::import_busybox(&docker, &reference).await.unwrap();
    assert_eq!(again.id, images[0].id, "a present image is kept");

    let applets = offline::APPLETS.join(" ");
    let script = format!(
        "for a in {applets}; do command -v $a >/dev/null || echo missing $a; done; \
         ls -ld /tmp /www /proc /sys /dev; id; echo done"
    );
    let mut spec = scope.spec("applets", &script);
    spec.image = reference.clone();
    let id = docker.create(&spec).await.unwrap();
    docker.start(&id).await.unwrap();
    assert_eq!(docker.wait(&id).await.unwrap(), 0);
    let text = output(&docker, &id, LogOptions::default()).await;
    assert!(
        text.ends_with("done\n") && !text.contains("missing"),
        "{text}"
    );
    assert!(text.contains("drwxrwxrwt"), "/tmp is 1777: {text}");
    assert!(
        text.contains("uid=0(root) gid=0(root)"),
        "/etc/passwd and group: {text}"
    );

    let err = offline::import_busybox(&docker, "lastbackend/x@sha256:00")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

#[tokio::test]
async fn cii_lists_inspects_and_removes_a_second_tag() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let reference = format!("lastbackend/test-tag:{}", scope.suffix);
    scope.image(&reference);
    cli(&["tag", offline::BUSYBOX, &reference]);

    let original = Cii::inspect(&docker, offline::BUSYBOX).await.unwrap();
    let tagged = Cii::inspect(&docker, &reference).await.unwrap();
    assert_eq!(tagged.id, original.id);
    assert!(tagged.id.starts_with("sha256:"), "{tagged:?}");
    assert!(tagged.tags.contains(&reference) && tagged.tags.contains(&offline::BUSYBOX.to_owned()));
    assert!(tagged.size > 1_000_000, "busybox is in it: {tagged:?}");
    assert!(tagged.created.is_some());

    let listed = Cii::list(&docker).await.unwrap();
    let entry = listed
        .iter()
        .find(|image| image.id == original.id)
        .expect("listed");
    assert!(entry.tags.contains(&reference), "{entry:?}");
    assert_eq!((entry.size, entry.created.is_some()), (tagged.size, true));

    Cii::remove(&docker, &reference, false).await.unwrap();
    assert!(
        Cii::inspect(&docker, &reference)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        Cii::remove(&docker, &reference, false)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        Cii::inspect(&docker, offline::BUSYBOX).await.unwrap().id,
        original.id
    );
}

#[tokio::test]
async fn a_pull_without_a_registry_fails_clearly() {
    let Some(docker) = docker().await else { return };
    // Nothing listens on port 1.
    let reference = "127.0.0.1:1/lastbackend/absent:never";
    let err = docker.pull(reference, None).await.unwrap_err();
    assert!(err.is_backend() || err.is_not_found(), "{err}");
    assert!(err.to_string().contains(reference), "{err}");
    let err = docker.pull("Upper/Case:x", None).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}
