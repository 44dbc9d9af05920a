//! `pullthrough serve`: bootstrap of the admission server — policies, certificate (generated,
//! shared through a Secret, or brought along), registration, then the TLS listener until SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{CertValidityArgs, PolicyArgs, SanArgs, ServiceArgs, WebhookArgs, values};
use crate::k8s::{self, Cluster, Registration};
use crate::policies::{FetchConfig, PolicyRegistry, PolicySource};
use crate::rotation::{CertificateSource, Certificates};
use crate::server::{self, AppState, FailureMode};
use crate::wasm::{Runtime, RuntimeConfig};

mod body_flags;
mod mirror_flags;
pub use body_flags::BodyArgs;
pub use mirror_flags::MirrorCheckArgs;

/// Flags of `pullthrough serve`. Exactly one of `--mirror`, `--settings-json` and `--policies`
/// says what to serve (the usage line shows the choice).
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("what_to_serve")
        .args(["mirror", "settings_json", "policies"])
        .required(true)
))]
pub struct ServeArgs {
    /// Address to listen on for HTTPS.
    #[arg(long, value_name = "ADDRESS", default_value_t = SocketAddr::from((Ipv4Addr::UNSPECIFIED, server::LISTEN_PORT)), env = "PULLTHROUGH_LISTEN")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub sans: SanArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
    #[command(flatten)]
    pub mirror_check: MirrorCheckArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Reload the policies every this many seconds, fetching each `registry://` tag and
    /// `https://` module again, so a moved tag is served without a SIGHUP [default: only on
    /// SIGHUP and file changes].
    #[arg(long, value_name = "SECONDS", value_parser = values::positive, env = "PULLTHROUGH_MODULE_REFRESH_SECONDS")]
    pub module_refresh_seconds: Option<u64>,
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// Register the webhook with the cluster (server-side apply) once the certificate is known.
    /// Without a cluster, registration is skipped and the configuration is printed instead.
    #[arg(long, value_parser = values::boolish(), env = "PULLTHROUGH_REGISTER")]
    pub register: bool,
    /// Deny a request when its policy fails (default: admit unchanged with a warning).
    #[arg(long, value_parser = values::boolish(), env = "PULLTHROUGH_FAIL_CLOSED")]
    pub fail_closed: bool,
    /// Address to serve `GET /metrics` on, over plain HTTP [default: the --listen address's IP,
    /// port 9090].
    #[arg(long, value_name = "ADDRESS", env = "PULLTHROUGH_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds to keep serving after SIGTERM with `/readyz` failing, so the Service's endpoints
    /// drop this replica before it stops accepting (the API server would otherwise meet refused
    /// connections, and with failurePolicy Ignore admit pods unrewritten).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        env = "PULLTHROUGH_SHUTDOWN_GRACE_SECONDS"
    )]
    pub shutdown_grace_seconds: u64,
    /// Upper bound, in seconds, on draining in-flight requests once accepting has stopped.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 25,
        env = "PULLTHROUGH_SHUTDOWN_TIMEOUT_SECONDS"
    )]
    pub shutdown_timeout_seconds: u64,
    /// Async worker threads (0: one per core). All but one may run a guest call directly; the
    /// rest of the calls run on the blocking pool.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "PULLTHROUGH_WORKER_THREADS"
    )]
    pub worker_threads: usize,
}

/// Settings of the embedded mirror policy (instead of `--policies`).
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// Registry host (and optional path prefix) of the pull-through cache; serves the embedded
    /// policy with `{"mirror": MIRROR}`.
    #[arg(long, env = "PULLTHROUGH_MIRROR")]
    pub mirror: Option<String>,
    /// Full settings of the embedded policy as JSON (instead of --mirror), e.g.
    /// `{"mirror":"m.example.com","layout":"prefixed"}`.
    #[arg(long, value_name = "JSON", env = "PULLTHROUGH_SETTINGS_JSON")]
    pub settings_json: Option<String>,
    #[command(flatten)]
    pub pull_secrets: crate::cli::PullSecretArgs,
}

impl MirrorArgs {
    fn settings(&self) -> anyhow::Result<serde_json::Value> {
        crate::cli::embedded_settings(
            self.settings_json.as_deref(),
            self.mirror.as_deref(),
            &self.pull_secrets.mirror_pull_secrets,
        )
        .context("--settings-json is not JSON")
    }
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("cert_validity_days", |arg| arg.conflicts_with("tls_cert")))]
pub struct TlsArgs {
    /// PEM certificate chain to serve (e.g. from cert-manager), reloaded when it changes.
    /// Without it a certificate is generated.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "PULLTHROUGH_TLS_CERT"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "PULLTHROUGH_TLS_KEY"
    )]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that signed --tls-cert, for the webhook's caBundle.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "PULLTHROUGH_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
    /// How often --tls-cert/--tls-key are checked for changes, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = values::positive, env = "PULLTHROUGH_TLS_RELOAD_SECONDS")]
    pub tls_reload_seconds: u64,
    /// Write the generated CA certificate (PEM) here, for clients such as `curl --cacert`.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "tls_cert",
        env = "PULLTHROUGH_WRITE_CA"
    )]
    pub write_ca: Option<PathBuf>,
    /// Secret the replicas share generated certificate material through.
    #[arg(long, value_name = "NAME", default_value = k8s::SECRET_NAME, conflicts_with = "tls_cert", env = "PULLTHROUGH_SECRET")]
    pub secret: String,
    #[command(flatten)]
    pub validity: CertValidityArgs,
    /// How often generated material is checked against the Secret and renewed, in seconds. A
    /// CA replaced by another replica (or by deleting the Secret) is picked up at the next check.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = values::positive, conflicts_with = "tls_cert", env = "PULLTHROUGH_CERT_CHECK_SECONDS")]
    pub cert_check_seconds: u64,
}

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

impl ServeArgs {
    /// The configuration these flags describe, or what is wrong with them.
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        let settings = self.mirror.settings()?;
        let mut registration = self.webhook.registration(&self.service);
        if self.register
            && let Some(warning) = registration.shared_namespace_warning()
        {
            tracing::warn!("{warning}");
        }
        if self.policy.policies.is_none() {
            for prefix in cache_prefixes(&settings) {
                if !registration.skip_image_prefixes.contains(&prefix) {
                    registration.skip_image_prefixes.push(prefix);
                }
            }
        }
        let mirror_check = self
            .mirror_check
            .check(&settings, self.policy.policies.is_some())?;
        let policies = self.policy.source(settings);
        let mut runtime = self.policy.runtime_config()?;
        if self.worker_threads > 0 {
            // Inline guest calls must leave one async worker free.
            runtime.inline_calls = runtime.inline_calls.min(self.worker_threads - 1);
        }
        Ok(ServeConfig {
            listen: self.listen,
            runtime,
            policies,
            fetch: self.policy.fetch.config(),
            module_refresh: self.module_refresh_seconds.map(Duration::from_secs),
            mirror_check,
            certificate: self.certificate_source()?,
            registration,
            register: self.register,
            failure_mode: if self.fail_closed {
                FailureMode::Closed
            } else {
                FailureMode::Open
            },
            metrics: self
                .metrics_addr
                .unwrap_or_else(|| SocketAddr::new(self.listen.ip(), server::METRICS_PORT)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
            worker_threads: self.worker_threads,
            body_budget: self.body.bytes(),
        })
    }

    fn certificate_source(&self) -> anyhow::Result<CertificateSource> {
        let tls = &self.tls;
        if let (Some(cert), Some(key)) = (&tls.tls_cert, &tls.tls_key) {
            if !self.sans.extra_sans.is_empty() {
                anyhow::bail!(
                    "--extra-san names a generated certificate's names; with --tls-cert the names are the certificate's own"
                );
            }
            if self.register && tls.ca_file.is_none() {
                anyhow::bail!("--register with --tls-cert needs --ca-file for the caBundle");
            }
            return Ok(CertificateSource::Files {
                cert: cert.clone(),
                key: key.clone(),
                ca_file: tls.ca_file.clone(),
                reload_interval: Duration::from_secs(tls.tls_reload_seconds),
            });
        }
        Ok(CertificateSource::Generated {
            namespace: self.service.namespace.clone(),
            secret: tls.secret.clone(),
            names: names_for(&self.sans, &self.service),
            validity: tls.validity.validity(),
            write_ca: tls.write_ca.clone(),
            check_interval: Duration::from_secs(tls.cert_check_seconds),
        })
    }
}

/// The registry hosts the embedded policy writes to (its mirror and rule targets), each as an
/// image prefix `host/`: the policy leaves every image under them alone, so the API server need
/// not send an object whose images all start with one. Settings the policy will refuse give none.
/// With several mirrors none of them is a prefix: an image on one that is not the first moves to
/// the first, so the API server must send it.
fn cache_prefixes(settings: &serde_json::Value) -> Vec<String> {
    let mirror = settings.get("mirror").into_iter();
    let targets = settings
        .get("rules")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("target"));
    let mut prefixes = Vec::new();
    for target in mirror.chain(targets).filter_map(serde_json::Value::as_str) {
        let host = target.split('/').next().unwrap_or_default();
        if !host.is_empty() && !prefixes.iter().any(|p: &String| p == &format!("{host}/")) {
            prefixes.push(format!("{host}/"));
        }
    }
    prefixes
}

/// The in-cluster names plus, without a cluster, the loopback names a local run is called by.
fn names_for(sans: &SanArgs, service: &ServiceArgs) -> Vec<String> {
    let mut names = sans.names(service);
    for local in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == local) {
            names.push(local.to_owned());
        }
    }
    names
}

/// Builds the async runtime `serve` runs on.
pub fn runtime(config: &ServeConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    builder.enable_all().build()
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    crate::tls::install_default_provider();
    let wasm = Runtime::new(config.runtime).context("could not start the wasm engine")?;
    let registry =
        PolicyRegistry::load_checked(wasm, config.policies, config.mirror_check, config.fetch)
            .await
            .context("could not load the policies")?;
    let _reloader = registry
        .spawn_reloader(config.module_refresh)
        .context("could not watch the policies for changes")?;

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
                Ok(k8s::Applied::Applied) => tracing::info!(
                    name = %registration.name,
                    "registered the MutatingWebhookConfiguration"
                ),
                Ok(k8s::Applied::LeftToNewer { version }) => tracing::info!(
                    name = %registration.name,
                    version,
                    "a newer pullthrough wrote the MutatingWebhookConfiguration; leaving it as it is"
                ),
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
        .with_context(|| {
            format!(
                "could not listen for metrics on {} (choose another with --metrics-addr)",
                config.metrics
            )
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
        .with_context(|| format!("could not listen on {}", config.listen))?;
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
