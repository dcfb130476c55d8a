//! HTTPS over a real loopback socket with certificates made by the test:
//! plain server TLS, and client certificates required when a CA is set.

use std::path::Path;
use std::sync::Arc;

use lastbackend_core::api::{Api, Settings};
use lastbackend_core::server::{ApiState, router, serve, server_config};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self { ca, dir }
    }

    /// A certificate for `name` signed by the CA: (cert PEM path, key PEM path).
    fn issue(&self, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        let cert_path = self.dir.path().join(format!("{name}.pem"));
        let key_path = self.dir.path().join(format!("{name}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn ca_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// Starts the API over HTTPS with `cert` and `key` (and `client_ca`) on
/// 127.0.0.1:0; dropping the sender stops it.
async fn start(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> (u16, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let app = router(ApiState::new(api, Some("t".into())));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = server_config(cert, key, client_ca).unwrap();
    let server = tokio::spawn(async move {
        serve(listener, app, Some(config), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (port, stop, server)
}

fn connector(ca: &Path, client: Option<(&Path, &Path)>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    TlsConnector::from(Arc::new(config))
}

/// One HTTP/1.1 GET over TLS; the whole answer, or the error that ended it.
async fn get(port: u16, connector: TlsConnector, path: &str) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn https_serves_the_api_and_shuts_down_gracefully() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("localhost");
    let (port, stop, server) = start(&cert, &key, None).await;
    let answer = get(port, connector(&pki.ca_path(), None), "/cluster")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = get(port, connector(&pki.ca_path(), None), "/nowhere")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    drop(stop);
    tokio::time::timeout(std::time::Duration::from_secs(15), server)
        .await
        .expect("the server stops after the signal")
        .unwrap();
}

#[tokio::test]
async fn with_a_ca_client_certificates_are_required() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("localhost");
    let (client_cert, client_key) = pki.issue("client");
    let (port, _stop, _server) = start(&cert, &key, Some(&pki.ca_path())).await;

    let with_cert = connector(&pki.ca_path(), Some((&client_cert, &client_key)));
    let answer = get(port, with_cert, "/cluster").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let without = get(port, connector(&pki.ca_path(), None), "/cluster").await;
    assert!(
        !without
            .as_deref()
            .unwrap_or_default()
            .starts_with("HTTP/1.1"),
        "answered without a client certificate: {without:?}"
    );

    let other = Pki::new();
    let (stranger_cert, stranger_key) = other.issue("client");
    let stranger = connector(&pki.ca_path(), Some((&stranger_cert, &stranger_key)));
    let answer = get(port, stranger, "/cluster").await;
    assert!(
        !answer
            .as_deref()
            .unwrap_or_default()
            .starts_with("HTTP/1.1"),
        "answered a certificate from another CA: {answer:?}"
    );
}

#[test]
fn unreadable_files_name_the_path() {
    let error = server_config(
        Path::new("/nonexistent/cert.pem"),
        Path::new("/nonexistent/key.pem"),
        None,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/cert.pem"),
        "{error}"
    );
}
