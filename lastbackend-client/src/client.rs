//! [`Client`]: the endpoint, the token and a tower service that carries the
//! requests; [`ClientBuilder`] makes one on hyper with rustls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::cluster::ClusterHandle;
use crate::error::{BoxError, Error, Result};
use crate::namespace::{NamespaceHandle, Namespaces};

/// The body of every answer, whatever the transport's own body type.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The transport the client sends its requests through: any tower service,
/// boxed so retry, timeout or tracing layers can be put around it.
pub type HttpService = BoxCloneSyncService<Request<Full<Bytes>>, Response<ResponseBody>, BoxError>;

/// The API's default port, from the docs.
pub const DEFAULT_PORT: u16 = 2967;

/// A connection to one lastbackend-rs API. Cheap to clone; clones share the
/// transport.
///
/// ```no_run
/// # async fn run() -> lastbackend_client::Result<()> {
/// let client = lastbackend_client::Client::builder()
///     .endpoint("http://127.0.0.1:2967")
///     .token("secret")
///     .build()?;
/// for service in client.namespace("demo").services().list().await?.items {
///     println!("{} {}", service.meta.name, service.status.status.state);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    service: HttpService,
    base: String,
    token: Option<HeaderValue>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.base)
            .field("token", &self.inner.token.as_ref().map(|_| "..."))
            .finish()
    }
}

/// What a request carries.
pub(crate) enum Payload {
    Empty,
    Json(Vec<u8>),
    Yaml(String),
}

impl Client {
    /// A client sending requests for `endpoint` (`http://host:2967`, a path
    /// prefix allowed) through `service`: a hyper client, an axum router in
    /// a test, or a scripted fake.
    pub fn new<S, B>(service: S, endpoint: &str) -> Result<Self>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let service = ServiceBuilder::new()
            .map_err(Into::into)
            .map_response(|response: Response<B>| {
                response.map(|body| body.map_err(Into::into).boxed_unsync())
            })
            .service(service);
        Ok(Self {
            inner: Arc::new(Inner {
                service: BoxCloneSyncService::new(service),
                base: normalize_endpoint(endpoint, false)?,
                token: None,
            }),
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(self, token: &str) -> Result<Self> {
        let token = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::ConfigInvalid("the token has characters a header cannot carry".into())
        })?;
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            service: shared.service.clone(),
            base: shared.base.clone(),
            token: shared.token.clone(),
        });
        Ok(Self {
            inner: Arc::new(Inner {
                token: Some(token),
                ..inner
            }),
        })
    }

    /// Starts a client on hyper with rustls.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The endpoint requests go to (`http://127.0.0.1:2967`).
    pub fn endpoint(&self) -> &str {
        &self.inner.base
    }

    /// Every namespace: list, create, watch.
    pub fn namespaces(&self) -> Namespaces {
        Namespaces::new(self.clone())
    }

    /// One namespace and everything in it.
    pub fn namespace(&self, name: &str) -> NamespaceHandle {
        NamespaceHandle::new(self.clone(), name)
    }

    /// The cluster and its nodes.
    pub fn cluster(&self) -> ClusterHandle {
        ClusterHandle::new(self.clone())
    }

    /// Sends a request; a non-2xx answer becomes [`Error::Api`].
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> Result<Response<ResponseBody>> {
        let uri = format!("{}{path}", self.inner.base);
        let mut request = Request::builder().method(method).uri(&uri);
        if let Some(token) = &self.inner.token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        let body = match payload {
            Payload::Empty => Full::default(),
            Payload::Json(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(bytes))
            }
            Payload::Yaml(text) => {
                request = request.header(CONTENT_TYPE, "application/yaml");
                Full::new(Bytes::from(text))
            }
        };
        let request = request
            .body(body)
            .map_err(|err| Error::ConfigInvalid(format!("{uri}: {err}")))?;
        let response = self
            .inner
            .service
            .clone()
            .oneshot(request)
            .await
            .map_err(Error::RequestFailed)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = collect(response.into_body()).await?;
        Err(Error::from_status(status, &body))
    }

    /// `GET path` decoded as JSON.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, Payload::Empty).await
    }

    /// Sends `body` as JSON and decodes the JSON answer.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let body = serde_json::to_vec(body)
            .map_err(|err| Error::ConfigInvalid(format!("cannot encode the request: {err}")))?;
        self.call(method, path, Payload::Json(body)).await
    }

    /// Sends a request and decodes the JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> Result<T> {
        let response = self.send(method, path, payload).await?;
        let body = collect(response.into_body()).await?;
        decode(&body)
    }
}

async fn collect(body: ResponseBody) -> Result<Bytes> {
    Ok(body
        .collect()
        .await
        .map_err(Error::RequestFailed)?
        .to_bytes())
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| Error::DecodeFailed(err.to_string()))
}

/// Escapes a name for one path segment.
pub(crate) fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `host:port` as the docs write `LB_API_URI` gets a scheme; a trailing `/`
/// goes so paths can be appended.
fn normalize_endpoint(endpoint: &str, tls: bool) -> Result<String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let endpoint = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("{}://{endpoint}", if tls { "https" } else { "http" })
    };
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|err| Error::ConfigInvalid(format!("endpoint {endpoint:?}: {err}")))?;
    if uri.authority().is_none() || !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(Error::ConfigInvalid(format!(
            "endpoint {endpoint:?}: expected http(s)://host[:port]"
        )));
    }
    Ok(endpoint)
}

/// Builds a [`Client`] on hyper-util's pooled client with rustls.
#[derive(Debug, Default, Clone)]
pub struct ClientBuilder {
    endpoint: Option<String>,
    token: Option<String>,
    ca_file: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
    timeout: Option<Duration>,
}

impl ClientBuilder {
    /// The API endpoint; `host:port` means `http://host:port` (`https` when
    /// TLS files are set). Default `http://127.0.0.1:2967`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The access token (`LB_ACCESS_TOKEN`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|token| !token.is_empty());
        self
    }

    /// TLS with a private CA and a client certificate, as the API's TLS mode
    /// wants (`LB_API_CA_FILE`, `LB_API_CERT_FILE`, `LB_API_PRIVATE_KEY_FILE`).
    pub fn tls(
        self,
        ca_file: impl AsRef<Path>,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Self {
        self.ca_file(ca_file).identity(cert_file, key_file)
    }

    /// Trusts the CA in this PEM file instead of the system's roots.
    pub fn ca_file(mut self, ca_file: impl AsRef<Path>) -> Self {
        self.ca_file = Some(ca_file.as_ref().to_owned());
        self
    }

    /// Presents this client certificate and key (PEM files).
    pub fn identity(mut self, cert_file: impl AsRef<Path>, key_file: impl AsRef<Path>) -> Self {
        self.identity = Some((cert_file.as_ref().to_owned(), key_file.as_ref().to_owned()));
        self
    }

    /// Gives up on a request whose answer has not begun after this long
    /// (a watch's or a log's body may go on for longer).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Reads the TLS files and makes the client.
    pub fn build(self) -> Result<Client> {
        let tls = self.ca_file.is_some() || self.identity.is_some();
        let endpoint = normalize_endpoint(
            self.endpoint
                .as_deref()
                .unwrap_or(&format!("127.0.0.1:{DEFAULT_PORT}")),
            tls,
        )?;
        let config = self.tls_config()?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let hyper =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let client = match self.timeout {
            Some(timeout) => Client::new(
                ServiceBuilder::new()
                    .layer(tower::timeout::TimeoutLayer::new(timeout))
                    .service(hyper),
                &endpoint,
            )?,
            None => Client::new(hyper, &endpoint)?,
        };
        match &self.token {
            Some(token) => client.with_token(token),
            None => Ok(client),
        }
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let invalid = |what: &str, path: &Path, err: &dyn std::fmt::Display| {
            Error::ConfigInvalid(format!("{what} {}: {err}", path.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|err| invalid("CA file", path, &err))?
                {
                    let cert = cert.map_err(|err| invalid("CA file", path, &err))?;
                    roots
                        .add(cert)
                        .map_err(|err| invalid("CA file", path, &err))?;
                }
            }
            None => {
                // Unreadable system certificates only matter for https
                // endpoints, and then the handshake says so.
                let _ =
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::ConfigInvalid(err.to_string()))?
            .with_root_certificates(roots);
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some((cert_file, key_file)) => {
                let certs = CertificateDer::pem_file_iter(cert_file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|err| invalid("certificate file", cert_file, &err))?;
                let key = PrivateKeyDer::from_pem_file(key_file)
                    .map_err(|err| invalid("private key file", key_file, &err))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|err| invalid("certificate file", cert_file, &err))
            }
        }
    }
}

/// Reads a streaming body line by line (watch events, logs).
pub(crate) struct Lines {
    body: ResponseBody,
    buffer: Vec<u8>,
    ended: bool,
    keep_partial: bool,
}

impl Lines {
    /// `keep_partial`: whether text after the last newline is a line when the
    /// body ends (yes for logs; for watch events it is a cut-off event).
    pub(crate) fn new(body: ResponseBody, keep_partial: bool) -> Self {
        Self {
            body,
            buffer: Vec::new(),
            ended: false,
            keep_partial,
        }
    }

    /// The next line without its newline; `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Option<Result<String, BoxError>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..end]);
                return Some(Ok(text.trim_end_matches('\r').to_owned()));
            }
            if self.ended {
                let rest = std::mem::take(&mut self.buffer);
                return (self.keep_partial && !rest.is_empty())
                    .then(|| Ok(String::from_utf8_lossy(&rest).into_owned()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => {
                    self.ended = true;
                    self.buffer.clear();
                    return Some(Err(err));
                }
                None => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_a_scheme_and_lose_the_trailing_slash() {
        assert_eq!(
            normalize_endpoint("10.0.0.1:2967", false).unwrap(),
            "http://10.0.0.1:2967"
        );
        assert_eq!(
            normalize_endpoint("10.0.0.1:2967", true).unwrap(),
            "https://10.0.0.1:2967"
        );
        assert_eq!(
            normalize_endpoint("https://api.example/lb/", false).unwrap(),
            "https://api.example/lb"
        );
        assert!(normalize_endpoint("ftp://x", false).is_err());
        assert!(normalize_endpoint("", false).is_err());
    }

    #[test]
    fn names_are_escaped_for_a_path_segment() {
        assert_eq!(segment("2048"), "2048");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
