use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn file(path: &str, data: &str, mode: u32) -> VolumeFile {
    VolumeFile {
        path: path.into(),
        data: data.to_owned().into(),
        mode,
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if path.symlink_metadata().unwrap().is_dir() {
                walk(&path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn volumes_are_directories_under_the_root() {
    let root = tempfile::tempdir().unwrap();
    let csi = DirCsi::new(root.path());
    assert_eq!(
        csi.list().await.unwrap(),
        Vec::<String>::new(),
        "no volumes dir yet"
    );
    let path = csi.create("demo_data").await.unwrap();
    assert_eq!(path, root.path().join("volumes/demo_data"));
    assert!(path.is_dir());
    assert_eq!(csi.create("demo_data").await.unwrap(), path, "idempotent");
    csi.create("demo_logs").await.unwrap();
    assert_eq!(csi.list().await.unwrap(), ["demo_data", "demo_logs"]);

    fs::write(path.join("kept-by-the-app"), "x").unwrap();
    csi.remove("demo_data").await.unwrap();
    assert!(!path.exists());
    csi.remove("demo_data").await.unwrap();
    assert_eq!(csi.list().await.unwrap(), ["demo_logs"]);
}

#[tokio::test]
async fn bad_ids_and_paths_are_invalid() {
    let root = tempfile::tempdir().unwrap();
    let csi = DirCsi::new(root.path());
    for id in ["", ".", "..", "a/b", "../etc"] {
        let err = csi.create(id).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{id:?}: {err}");
        assert!(err.to_string().contains("volume id"), "{err}");
    }
    let volume = csi
        .write_files("v", &[file("ok", "1", 0o444)])
        .await
        .unwrap();
    for path in [
        "/etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "",
        ".lb-tmp.1",
    ] {
        let err = csi
            .write_files("v", &[file("fine", "2", 0o444), file(path, "x", 0o444)])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{path:?}: {err}");
        assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
    }
    let err = csi
        .write_files("v", &[file("a", "1", 0o444), file("a", "2", 0o444)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    let err = csi
        .write_files("v", &[file("a", "1", 0o10000)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mode of a"), "{err}");
    assert_eq!(tree(&volume), ["ok"], "rejected input changes nothing");
}

#[tokio::test]
async fn write_files_holds_exactly_the_files_with_their_modes() {
    let root = tempfile::tempdir().unwrap();
    let csi = DirCsi::new(root.path());
    let volume = csi
        .write_files(
            "pod_secret",
            &[
                file("password", "s3cret", 0o400),
                file("conf/app.yaml", "a: 1\n", 0o444),
                file("conf/old", "gone soon", 0o644),
            ],
        )
        .await
        .unwrap();
    assert_eq!(volume, root.path().join("volumes/pod_secret"));
    assert_eq!(
        fs::read_to_string(volume.join("password")).unwrap(),
        "s3cret"
    );
    assert_eq!(mode(&volume.join("password")), 0o400);
    assert_eq!(mode(&volume.join("conf/app.yaml")), 0o444);
    assert_eq!(mode(&volume.join("conf/old")), 0o644);
    let inode = fs::metadata(volume.join("conf/app.yaml")).unwrap().ino();

    fs::create_dir_all(volume.join("stale/deep")).unwrap();
    fs::write(volume.join("stale/deep/file"), "x").unwrap();
    fs::write(volume.join(".lb-tmp.99.0"), "left by a crash").unwrap();
    csi.write_files(
        "pod_secret",
        &[
            file("password", "s3cret", 0o400),
            file("conf/app.yaml", "a: 2\n", 0o440),
        ],
    )
    .await
    .unwrap();
    assert_eq!(tree(&volume), ["conf", "conf/app.yaml", "password"]);
    assert_eq!(
        fs::read_to_string(volume.join("conf/app.yaml")).unwrap(),
        "a: 2\n"
    );
    assert_eq!(mode(&volume.join("conf/app.yaml")), 0o440);
    let replaced = fs::metadata(volume.join("conf/app.yaml")).unwrap().ino();
    assert_ne!(
        inode, replaced,
        "replaced by rename, not rewritten in place"
    );

    // A file becomes a directory and back.
    csi.write_files("pod_secret", &[file("conf", "flat", 0o444)])
        .await
        .unwrap();
    assert_eq!(tree(&volume), ["conf"]);
    csi.write_files("pod_secret", &[file("conf/nested", "deep", 0o444)])
        .await
        .unwrap();
    assert_eq!(tree(&volume), ["conf", "conf/nested"]);
    csi.write_files("pod_secret", &[]).await.unwrap();
    assert_eq!(tree(&volume), Vec::<String>::new());
}

#[tokio::test]
async fn symlinks_planted_in_a_volume_are_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let csi = DirCsi::new(root.path());
    let volume = csi.create("v").await.unwrap();
    std::os::unix::fs::symlink(outside.path(), volume.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("f"), volume.join("f")).unwrap();
    csi.write_files("v", &[file("link/x", "in", 0o444), file("f", "in", 0o444)])
        .await
        .unwrap();
    assert!(volume.join("link").symlink_metadata().unwrap().is_dir());
    assert!(volume.join("f").symlink_metadata().unwrap().is_file());
    assert_eq!(
        tree(outside.path()),
        Vec::<String>::new(),
        "nothing written outside"
    );
}
