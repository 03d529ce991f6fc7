//! The running application: shared state, and serving it on a listener.

use crate::config::Config;
use crate::files::UrlSigner;
use crate::http::client_addr::{self, ClientAddr};
use crate::http::rate_limit::RateLimiter;
use crate::oauth::cache::TokenCache;
use crate::oauth::throttle::LoginThrottle;
use axum::http::{header, HeaderMap};
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use switchboard_core::service::{
    Blacklists, Channels, Conversations, Customers, Inbound, MediaFiles, Messages,
};
use switchboard_core::{Clock, Store, StoreError};
use tokio::net::TcpListener;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub limiter: RateLimiter,
    pub conversations: Conversations,
    pub messages: Messages,
    pub blacklists: Blacklists,
    pub channels: Channels,
    pub customers: Customers,
    pub inbound: Inbound,
    /// Message media: uploads, downloads and the sweeper of unheld files.
    pub media: MediaFiles,
    pub signer: UrlSigner,
    /// Checked bearer tokens; every revocation path invalidates it.
    pub token_cache: TokenCache,
    /// Failed sign-ins on the authorization pages, per account and per IP.
    pub login_throttle: LoginThrottle,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl AppState {
    /// Builds the state; reads (or creates) the file-URL signing key from the store.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<Self, StoreError> {
        let signing_key = store
            .setting(
                "file_url_signing_key",
                &crate::credentials::new_secret(""),
                clock.now(),
            )
            .await?;
        Ok(Self {
            inner: Arc::new(Shared {
                conversations: Conversations::new(store.clone(), clock.clone()),
                messages: Messages::new(store.clone(), clock.clone()),
                blacklists: Blacklists::new(store.clone(), clock.clone()),
                channels: Channels::new(store.clone(), clock.clone()),
                customers: Customers::new(store.clone(), clock.clone()),
                inbound: Inbound::new(store.clone(), clock.clone()),
                media: crate::files::local_media(store.clone(), clock.clone(), &config),
                signer: UrlSigner::new(signing_key.as_bytes(), config.file_url_ttl_secs),
                limiter: RateLimiter::new(config.rate_limit_per_minute),
                token_cache: TokenCache::default(),
                login_throttle: LoginThrottle::default(),
                store,
                clock,
                config,
            }),
        })
    }

    /// Scheme and host for absolute URLs (pagination links, the OAuth issuer): the
    /// configured public base URL, else the request's Host header (when it is a
    /// plausible host; else the listen address) with `https` when a trusted proxy says
    /// so in `X-Forwarded-Proto`, and `http` otherwise.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.config.public_base_url {
            return base.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_plausible_host(h));
        let scheme = if crate::http::client_addr::forwarded_https(headers) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", host.unwrap_or(&self.config.listen))
    }
}

fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight
/// requests finish.
///
/// A hand-rolled accept loop rather than `axum::serve`, for two limits it lacks: a
/// client must finish sending request headers within the header timeout (so a
/// slowloris cannot pin connections), and at most `max_connections` are served at
/// once (further clients wait in the kernel's accept backlog).
///
/// HTTP/1.1 only. hyper's HTTP/1 header timer starts when the connection waits for a
/// request head, so it also closes a connection that never sends a byte and one that
/// idles between keep-alive requests. The auto (HTTP/1 + HTTP/2) builder first sniffs
/// the protocol with an untimed read, so a silent client would keep its slot forever,
/// and HTTP/2 multiplexing would let one connection slot carry any number of requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let header_timeout = state.config.header_read_timeout;
    let trusted_proxies: Arc<[ipnet::IpNet]> = state.config.trusted_proxies.clone().into();
    let revocations = tokio::spawn(crate::oauth::cache::watch_revocations(state.clone()));
    let _stop_watching = AbortOnDrop(revocations);
    let _stop_sweeping = state.config.file_sweep_interval.map(|interval| {
        AbortOnDrop(tokio::spawn(crate::files::sweep_periodically(
            state.clone(),
            interval,
        )))
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(
        state.config.max_connections.max(1),
    ));
    let router = crate::http::router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let trusted = trusted_proxies.clone();
        let peer_is_proxy = client_addr::is_trusted_proxy(remote.ip(), &trusted);
        let service = router.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                // Only our own proxies may say which scheme the client used.
                if !peer_is_proxy {
                    req.headers_mut().remove(&client_addr::FORWARDED_PROTO);
                }
                let client =
                    client_addr::resolve(remote.ip(), peer_is_proxy, req.headers(), &trusted);
                req.extensions_mut().insert(ClientAddr(client));
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo::<SocketAddr>(remote));
                req.map(axum::body::Body::new)
            },
        );
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(
                // hyper's own answers to unparsable requests get the JSON error body.
                TokioIo::new(crate::http::protocol_errors::JsonProtocolErrors::new(
                    stream,
                )),
                hyper_util::service::TowerToHyperService::new(service),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Stops a background task when the server that started it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::is_plausible_host;

    #[test]
    fn hosts_with_odd_characters_are_not_echoed() {
        assert!(is_plausible_host("example.com:8080"));
        assert!(is_plausible_host("[::1]:80"));
        assert!(!is_plausible_host("evil.com/path?x="));
        assert!(!is_plausible_host("a b"));
        assert!(!is_plausible_host(""));
    }
}
