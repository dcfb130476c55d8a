//! Pulling through the CII from a real registry with htpasswd auth.

use lastbackend_runtime::docker::offline;
use lastbackend_runtime::{Cii, RegistryAuth};

use super::support::{Scope, cli, docker};
use super::support_registry::Registry;

#[tokio::test]
async fn pull_with_registry_auth() {
    let Some(docker) = docker().await else { return };
    let Some(registry) = Registry::start().await else {
        return;
    };
    let scope = Scope::new();
    let reference = format!("{}/lastbackend/busybox:{}", registry.address, scope.suffix);
    scope.image(&reference);
    cli(&["tag", offline::BUSYBOX, &reference]);
    registry.login();
    registry.docker_cli(&["push", &reference]);
    // Only the registry has the reference now.
    cli(&["rmi", &reference]);
    assert!(docker.inspect(&reference).await.unwrap_err().is_not_found());

    let err = docker.pull(&reference, None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&reference) && text.contains("auth"),
        "without credentials: {text}"
    );
    let wrong = RegistryAuth {
        server: Some(registry.address.clone()),
        username: registry.username.clone(),
        password: "wrong".into(),
    };
    let err = docker.pull(&reference, Some(&wrong)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&reference) && text.contains("auth"),
        "a wrong password: {text}"
    );

    let auth = RegistryAuth {
        server: Some(registry.address.clone()),
        username: registry.username.clone(),
        password: registry.password.clone(),
    };
    let pulled = docker.pull(&reference, Some(&auth)).await.unwrap();
    assert!(pulled.tags.contains(&reference), "{pulled:?}");
    let original = docker.inspect(offline::BUSYBOX).await.unwrap();
    assert_eq!(pulled.id, original.id, "the same image came back");
}
