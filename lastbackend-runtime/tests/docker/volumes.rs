//! The `dir` volume driver under a running container.

use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::{Bind, Cri, Csi, VolumeFile};

use super::streams::exec;
use super::support::{Scope, docker};

fn file(path: &str, data: &str) -> VolumeFile {
    VolumeFile {
        path: path.into(),
        data: data.to_owned().into(),
        mode: 0o444,
    }
}

#[tokio::test]
async fn a_container_sees_volume_files_change_in_place() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let root = tempfile::tempdir().unwrap();
    let csi = DirCsi::new(root.path());
    let volume = csi
        .write_files("demo_config", &[file("app.conf", "one\n")])
        .await
        .unwrap();
    let mut spec = scope.spec("volume", "exec sleep 300");
    spec.binds.push(Bind {
        host: volume.clone(),
        container: "/etc/app".into(),
        read_only: true,
    });
    let id = docker.create(&spec).await.unwrap();
    docker.start(&id).await.unwrap();
    assert_eq!(exec(&docker, &id, "cat /etc/app/app.conf").await, "one\n");
    assert_eq!(
        exec(&docker, &id, "stat -c %a /etc/app/app.conf").await,
        "444\n"
    );

    csi.write_files(
        "demo_config",
        &[file("app.conf", "two\n"), file("extra", "x")],
    )
    .await
    .unwrap();
    assert_eq!(exec(&docker, &id, "cat /etc/app/app.conf").await, "two\n");
    csi.write_files("demo_config", &[file("extra", "x")])
        .await
        .unwrap();
    assert_eq!(exec(&docker, &id, "ls /etc/app").await, "extra\n");
}
