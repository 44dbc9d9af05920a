//! `pullthrough serve`: bootstrap of the admission server — policies, certificate (generated,
//! shared through a Secret, or brought along), registration, then the TLS listener until SIGTERM.
//!
//! - `flags`: [`ServeArgs`] and the flag groups only `serve` has, turned into a [`ServeConfig`];
//!   `body_flags`, `mirror_flags`: the request body and mirror check groups.
//! - here: the [`ServeConfig`] and [`run`], which serves it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::k8s::{self, Cluster, Registration};
use crate::policies::{FetchConfig, PolicyError, PolicyRegistry, PolicySource};
use crate::rotation::{CertificateSource, Certificates};
use crate::server::{self, AppState, FailureMode};
use crate::wasm::{LoadError, Runtime, RuntimeConfig};

mod body_flags;
mod flags;
mod mirror_flags;
pub use body_flags::BodyArgs;
pub use flags::{ConfigError, MirrorArgs, ServeArgs, TlsArgs};
pub use mirror_flags::{MirrorCheckArgs, MirrorCheckArgsError};

/// What `serve` runs with, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Address to listen on for HTTPS.
    pub listen: SocketAddr,
    /// The wasm engine's settings.
    pub runtime: RuntimeConfig,
    /// Where the policies come from.
    pub policies: PolicySource,
    /// How remote modules are fetched.
    pub fetch: FetchConfig,
    /// How often to reload (and fetch remote modules again), besides SIGHUP and file changes.
    pub module_refresh: Option<Duration>,
    /// The embedded policy's mirror check.
    pub mirror_check: Option<crate::mirror_check::MirrorCheck>,
    /// Where the serving certificate comes from.
    pub certificate: CertificateSource,
    /// The webhook configuration to register.
    pub registration: Registration,
    /// Whether to register it with the cluster.
    pub register: bool,
    /// What to answer when a policy cannot give a verdict.
    pub failure_mode: FailureMode,
    /// Address `GET /metrics` is served on (plain HTTP).
    pub metrics: SocketAddr,
    /// How long to keep serving after SIGTERM with `/readyz` failing.
    pub shutdown_grace: Duration,
    /// Upper bound on draining in-flight requests after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Async worker threads (0: one per core).
    pub worker_threads: usize,
    /// Bytes of request bodies all requests may hold at once.
    pub body_budget: usize,
}

/// Why `serve` stopped before serving, or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The wasm engine did not start.
    #[error("could not start the wasm engine")]
    Engine(#[source] LoadError),
    /// The policies did not load.
    #[error("could not load the policies")]
    Policies(#[source] PolicyError),
    /// The policies file or its modules cannot be watched.
    #[error("could not watch the policies for changes")]
    Reloader(#[source] PolicyError),
    /// No first certificate.
    #[error(transparent)]
    Certificates(#[from] crate::rotation::Error),
    /// Registering, or printing the configuration that would be registered.
    #[error(transparent)]
    Cluster(#[from] k8s::Error),
    /// The metrics address cannot be listened on.
    #[error("could not listen for metrics on {address} (choose another with --metrics-addr)")]
    ListenMetrics {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration cannot be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// The HTTPS address cannot be listened on.
    #[error("could not listen on {address}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Builds the async runtime `serve` runs on.
pub fn runtime(config: &ServeConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    // A worker writes the log lines it held when it runs out of work, and when it stops.
    builder
        .on_thread_park(crate::telemetry::worker_idle)
        .on_thread_stop(crate::telemetry::worker_stops)
        .enable_all()
        .build()
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(config: ServeConfig) -> Result<(), Error> {
    crate::tls::install_default_provider();
    let wasm = Runtime::new(config.runtime).map_err(Error::Engine)?;
    let registry =
        PolicyRegistry::load_checked(wasm, config.policies, config.mirror_check, config.fetch)
            .await
            .map_err(Error::Policies)?;
    let _reloader = registry
        .spawn_reloader(config.module_refresh)
        .map_err(Error::Reloader)?;

    let cluster = if config.register {
        match Cluster::connect().await {
            Ok(cluster) => Some(cluster),
            Err(error) => {
                tracing::warn!(%error, "registration skipped: no Kubernetes cluster found");
                None
            }
        }
    } else {
        None
    };
    let certs = Certificates::start(&config.certificate, cluster.as_ref()).await?;
    let registration = config.registration;
    let ca_pem = certs.ca_pem().as_bytes();
    match &cluster {
        Some(cluster) => {
            match cluster
                .register(&registration, ca_pem, k8s::Conflicts::Report)
                .await
            {
                Ok(registered) => tracing::info!(name = %registration.name, "{registered}"),
                // An operator's change (an emergency edit) stays: serve, and say so loudly.
                Err(error @ k8s::Error::Conflict { .. }) => tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "serving with the MutatingWebhookConfiguration as it is"
                ),
                Err(error) => return Err(error.into()),
            }
        }
        None => {
            let why = if config.register {
                "no Kubernetes cluster found (no kubeconfig, not in a pod)"
            } else {
                "--register not given"
            };
            tracing::warn!(
                "webhook registration skipped ({why}); the configuration it would apply follows on stdout"
            );
            println!("{}", k8s::webhook_yaml(&registration, ca_pem)?);
        }
    }
    let resolver = Arc::clone(certs.resolver());
    let never_rewritten = server::never_rewritten(&registration.namespace);
    certs.spawn_renewal(cluster, registration);

    let mut state = AppState::new(registry, config.failure_mode);
    state.certs = Some(Arc::clone(&resolver));
    state.body_budget = Arc::new(server::BodyBudget::new(config.body_budget));
    state.protected_namespaces = never_rewritten.into();
    let shutting_down = Arc::clone(&state.shutting_down);
    let metrics = tokio::net::TcpListener::bind(config.metrics)
        .await
        .map_err(|source| Error::ListenMetrics {
            address: config.metrics,
            source,
        })?;
    let metrics_app = server::metrics_router(state.clone());
    let metrics_task = tokio::spawn(async move {
        if let Err(error) = axum::serve(metrics, metrics_app).await {
            tracing::error!(%error, "the metrics listener failed");
        }
    });
    tracing::info!(address = %config.metrics, "serving metrics over HTTP");
    let app = server::router(state);
    let tls = crate::tls::server_config(resolver)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            address: config.listen,
            source,
        })?;
    tracing::info!(address = %config.listen, "serving admission reviews over HTTPS");
    let grace = config.shutdown_grace;
    let shutdown = async move {
        server::shutdown_signal().await;
        shutting_down.store(true, std::sync::atomic::Ordering::Relaxed);
        if !grace.is_zero() {
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "failing /readyz and serving on while the endpoints drop this replica"
            );
            // A second signal ends the grace early.
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                () = server::shutdown_signal() => {}
            }
        }
    };
    server::serve(listener, tls, app, shutdown, config.shutdown_timeout).await;
    metrics_task.abort();
    Ok(())
}
