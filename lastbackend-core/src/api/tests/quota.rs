//! The original's quota table (`service/handlers_test.go`).

use super::*;
use crate::api::UpdateOptions;

/// Replicas, RAM and CPU limits, and the error expected (`None`: success).
type Case<'a> = (u32, Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Namespace `limits` with limits 1GB / 1 CPU, nothing in it.
async fn limited() -> Api {
    let api = api();
    api.create_namespace(namespace_m(
        "limits",
        "resources: {limits: {ram: 1GB, cpu: \"1\"}}",
    ))
    .await
    .unwrap();
    api
}

#[tokio::test]
async fn create_checks_the_namespace_limits() {
    let cases: [Case<'_>; 7] = [
        (
            1,
            Some("2GB"),
            Some("0.5"),
            Some("resources ram limit exceeded"),
        ),
        (
            1,
            Some("512MB"),
            Some("1.5"),
            Some("resources cpu limit exceeded"),
        ),
        (
            1,
            Some("2GB"),
            Some("1.5"),
            Some("resources ram limit exceeded"),
        ),
        (
            3,
            Some("128MB"),
            Some("0.5"),
            Some("resources cpu limit exceeded"),
        ),
        (1, None, None, None),
        (1, Some("512MB"), Some("0.5"), None),
        (
            1,
            Some("512MB"),
            None,
            Some("resources cpu limit is required"),
        ),
    ];
    for (i, (replicas, ram, cpu, want)) in cases.into_iter().enumerate() {
        let api = limited().await;
        let got = api
            .create_service("limits", service_m("svc", replicas, ram, cpu))
            .await;
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(want)) => {
                assert_eq!((e.code(), e.to_string().as_str()), (400, want), "case {i}");
                assert!(e.is_quota_exceeded());
                assert!(
                    api.services("limits").await.unwrap().items.is_empty(),
                    "case {i}"
                );
            }
            (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn defaults_count_against_the_quota() {
    let api = limited().await;
    // 128 MiB / 100m per container without limits: seven fit in 1GB ...
    api.create_service("limits", service_m("a", 7, None, None))
        .await
        .unwrap();
    // ... an eighth does not.
    let err = api
        .create_service("limits", service_m("b", 1, None, None))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "resources ram limit exceeded");
    let ns = api.namespace("limits").await.unwrap();
    assert_eq!(ns.status.allocated.cpu.unwrap().millis(), 700);
}

#[tokio::test]
async fn update_and_scale_release_the_old_share_first() {
    let api = api();
    api.create_namespace(namespace_m(
        "limits",
        "resources: {limits: {ram: 2GB, cpu: \"2\"}}",
    ))
    .await
    .unwrap();
    // 1.5GB / 1.5 allocated, `limited` holding 512MB / 0.5 of it.
    api.create_service("limits", service_m("other", 1, Some("1GB"), Some("1")))
        .await
        .unwrap();
    api.create_service(
        "limits",
        service_m("limited", 1, Some("512MB"), Some("0.5")),
    )
    .await
    .unwrap();
    let cases: [(u32, &str, Option<&str>, Option<&str>); 7] = [
        (1, "0.5GB", None, Some("resources cpu limit is required")),
        (1, "2GB", Some("0.5"), Some("resources ram limit exceeded")),
        (
            1,
            "512MB",
            Some("1.5"),
            Some("resources cpu limit exceeded"),
        ),
        (1, "2GB", Some("1.5"), Some("resources ram limit exceeded")),
        (
            3,
            "128MB",
            Some("0.5"),
            Some("resources cpu limit exceeded"),
        ),
        (1, "600MB", Some("0.6"), None),
        (1, "512MB", Some("0.5"), None),
    ];
    for (i, (replicas, ram, cpu, want)) in cases.into_iter().enumerate() {
        let got = api
            .update_service(
                "limits",
                "limited",
                service_m("limited", replicas, Some(ram), cpu),
                UpdateOptions::default(),
            )
            .await;
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(want)) => assert_eq!(e.to_string(), want, "case {i}"),
            (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(
        api.scale_service("limits", "limited", 3)
            .await
            .unwrap_err()
            .to_string(),
        "resources ram limit exceeded"
    );
    api.scale_service("limits", "other", 0).await.unwrap();
    api.scale_service("limits", "limited", 2).await.unwrap();
    // Removing frees its share.
    api.remove_service("limits", "limited").await.unwrap();
    api.create_service("limits", service_m("new", 1, Some("1GB"), Some("1")))
        .await
        .unwrap();
}
