//! Serving the router over HTTP or HTTPS until a shutdown signal.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

/// How long requests in flight (watches, long-polls) get to finish after the
/// shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (HTTPS with `tls`) until `shutdown` completes,
/// then lets requests in flight finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(DRAIN));
    });
    let service = app.into_make_service();
    match tls {
        Some(config) => {
            axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(service)
                .await
        }
    }
}
