//! The plain HTTP/1.1 client of the API's log proxy to an exporter: one
//! connection per request, the response body streamed as it comes. (The
//! daemons' calls to the API go through `lastbackend-client`.)

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long connecting and the response head may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("{authority}: {source}")]
    Http {
        authority: String,
        source: hyper::Error,
    },
    #[error("{authority} did not answer within {TIMEOUT:?}")]
    Timeout { authority: String },
}

/// Sends `request` to `authority` (`host:port`) and answers the response
/// with its body still streaming.
pub(crate) async fn send(
    authority: &str,
    request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, ClientError> {
    let exchange = async {
        let stream =
            TcpStream::connect(authority)
                .await
                .map_err(|source| ClientError::Connect {
                    authority: authority.to_owned(),
                    source,
                })?;
        let _ = stream.set_nodelay(true);
        let http = |source| ClientError::Http {
            authority: authority.to_owned(),
            source,
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        // Drives the connection until the body is read or dropped.
        tokio::spawn(connection);
        sender.send_request(request).await.map_err(http)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::Timeout {
            authority: authority.to_owned(),
        })?
}
