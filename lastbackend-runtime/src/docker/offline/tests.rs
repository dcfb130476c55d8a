use std::collections::BTreeMap;
use std::io::Read;

use super::*;

#[test]
fn static_and_dynamic_binaries_are_told_apart() {
    assert!(!is_static_elf(b"#!/bin/sh\n"));
    assert!(!is_static_elf(b"\x7fELF\x02\x01"), "truncated");
    // Any dynamically linked host binary has a program interpreter.
    let dynamic = std::fs::read("/bin/ls").expect("/bin/ls");
    assert!(!is_static_elf(&dynamic));
    match find_busybox() {
        Ok(path) => assert!(is_static_elf(&std::fs::read(path).unwrap())),
        Err(e) => assert!(e.to_string().contains("busybox-static"), "{e}"),
    }
}

#[test]
fn rootfs_holds_busybox_its_applets_and_a_minimal_etc() {
    let busybox = match find_busybox() {
        Ok(path) => path,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let tar = rootfs(&busybox).unwrap();
    let mut entries = BTreeMap::new();
    for entry in tar::Archive::new(tar.as_ref()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let path = entry.path().unwrap().display().to_string();
        let link = entry.link_name().unwrap().map(|l| l.display().to_string());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        let kind = header.entry_type();
        entries.insert(path, (kind, header.mode().unwrap(), link, content));
    }
    let binary = std::fs::read(&busybox).unwrap();
    assert_eq!(entries["bin/busybox"].3, binary);
    assert_eq!(entries["bin/busybox"].1, 0o755);
    for applet in APPLETS {
        let (kind, _, link, _) = &entries[&format!("bin/{applet}")];
        assert_eq!(
            (*kind, link.as_deref()),
            (EntryType::Symlink, Some("busybox"))
        );
    }
    assert_eq!(entries["tmp"].0, EntryType::Directory);
    assert_eq!(entries["tmp"].1, 0o1777);
    for dir in ["www", "proc", "sys", "dev", "etc"] {
        assert_eq!(entries[dir].0, EntryType::Directory, "{dir}");
    }
    assert!(String::from_utf8_lossy(&entries["etc/passwd"].3).starts_with("root:x:0:0:"));
    assert!(String::from_utf8_lossy(&entries["etc/group"].3).starts_with("root:x:0:"));
}
