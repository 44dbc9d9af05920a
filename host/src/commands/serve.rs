//! `pullthrough serve`: bootstrap of the admission server — policies, certificate (generated,
//! shared through a Secret, or brought along), registration, then the TLS listener until SIGTERM.

use crate::certificates::rotation as certificate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::{PolicyArgs, ServiceArgs, WebhookArgs};
use crate::k8s;
use crate::policies::PolicyRegistry;
use crate::server::{self, AppState, FailureMode};
use crate::wasm::Runtime;

/// Flags of `pullthrough serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on for HTTPS.
    #[arg(long, default_value = "0.0.0.0:8443", env = "PULLTHROUGH_LISTEN")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// Register the webhook with the cluster (server-side apply) once the certificate is known.
    /// Without a cluster, registration is skipped and the configuration is printed instead.
    #[arg(long, env = "PULLTHROUGH_REGISTER")]
    pub register: bool,
    /// Deny a request when its policy fails (default: admit unchanged with a warning).
    #[arg(long, env = "PULLTHROUGH_FAIL_CLOSED")]
    pub fail_closed: bool,
    /// Upper bound, in seconds, on draining in-flight requests after SIGTERM.
    #[arg(
        long,
        default_value_t = 25,
        env = "PULLTHROUGH_SHUTDOWN_TIMEOUT_SECONDS"
    )]
    pub shutdown_timeout_seconds: u64,
    /// Async worker threads (0: one per core). All but one may run a guest call directly; the
    /// rest of the calls run on the blocking pool.
    #[arg(long, default_value_t = 0, env = "PULLTHROUGH_WORKER_THREADS")]
    pub worker_threads: usize,
}

/// Settings of the embedded mirror policy (ignored with `--policies`).
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// Registry host (and optional path prefix) of the pull-through cache; serves the embedded
    /// policy with `{"mirror": MIRROR}`.
    #[arg(long, env = "PULLTHROUGH_MIRROR", required_unless_present_any = ["policies", "settings_json"])]
    pub mirror: Option<String>,
    /// Full settings of the embedded policy as JSON (instead of --mirror), e.g.
    /// `{"mirror":"m.example.com","layout":"prefixed"}`.
    #[arg(long, env = "PULLTHROUGH_SETTINGS_JSON", conflicts_with_all = ["mirror", "policies"])]
    pub settings_json: Option<String>,
}

impl MirrorArgs {
    fn settings(&self) -> anyhow::Result<serde_json::Value> {
        Ok(match (&self.settings_json, &self.mirror) {
            (Some(text), _) => serde_json::from_str(text).context("--settings-json is not JSON")?,
            (None, Some(mirror)) => json!({ "mirror": mirror }),
            (None, None) => json!({}),
        })
    }
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve (e.g. from cert-manager), reloaded when it changes.
    /// Without it a certificate is generated.
    #[arg(long, requires = "tls_key", env = "PULLTHROUGH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", env = "PULLTHROUGH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that signed --tls-cert, for the webhook's caBundle when registering.
    #[arg(long, env = "PULLTHROUGH_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// How often --tls-cert/--tls-key are checked for changes, in seconds.
    #[arg(long, default_value_t = 10, env = "PULLTHROUGH_TLS_RELOAD_SECONDS")]
    pub tls_reload_seconds: u64,
    /// Write the generated CA certificate (PEM) here, for clients such as `curl --cacert`.
    #[arg(long, env = "PULLTHROUGH_WRITE_CA")]
    pub write_ca: Option<PathBuf>,
    /// Secret the replicas share generated certificate material through.
    #[arg(long, default_value = crate::commands::manifests::SECRET_NAME, env = "PULLTHROUGH_SECRET")]
    pub secret: String,
    /// Validity of a generated serving certificate, in days (renewed at two thirds).
    #[arg(long, default_value_t = 365, env = "PULLTHROUGH_CERT_VALIDITY_DAYS")]
    pub cert_validity_days: u64,
}

/// Builds the async runtime `serve` runs on.
pub fn runtime(args: &ServeArgs) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.worker_threads > 0 {
        builder.worker_threads(args.worker_threads);
    }
    builder.enable_all().build()
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::tls::install_default_provider();
    let source = args.policy.source(args.mirror.settings()?);
    let mut config = args.policy.runtime_config()?;
    if args.worker_threads > 0 {
        // Inline guest calls must leave one async worker free.
        config.inline_calls = config.inline_calls.min(args.worker_threads - 1);
    }
    let wasm = Runtime::new(config).context("could not start the wasm engine")?;
    let registry = PolicyRegistry::load(wasm, source)
        .await
        .context("could not load the policies")?;
    let _reloader = registry
        .spawn_reloader()
        .context("could not watch the policies for changes")?;

    let cluster = if args.register {
        match k8s::client().await {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::warn!(%error, "registration skipped: no Kubernetes cluster found");
                None
            }
        }
    } else {
        None
    };
    let certs = certificate::Certificates::start(&args, cluster.as_ref()).await?;
    let registration = args.webhook.registration(&args.service);
    let config = k8s::webhook_configuration(&registration, certs.ca_pem().as_bytes());
    match &cluster {
        Some(client) => {
            k8s::apply(client, &config).await?;
            tracing::info!(name = %registration.name, "registered the MutatingWebhookConfiguration");
        }
        None => {
            let why = if args.register {
                "no Kubernetes cluster found (no kubeconfig, not in a pod)"
            } else {
                "--register not given"
            };
            tracing::warn!(
                "webhook registration skipped ({why}); the configuration it would apply follows on stdout"
            );
            println!("{}", crate::commands::register::to_yaml(&config)?);
        }
    }
    let resolver = Arc::clone(certs.resolver());
    certs.spawn_renewal(cluster, registration);

    let mut state = AppState::new(
        registry,
        if args.fail_closed {
            FailureMode::Closed
        } else {
            FailureMode::Open
        },
    );
    state.certs = Some(Arc::clone(&resolver));
    let app = server::router(state);
    let tls = crate::tls::server_config(resolver)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    tracing::info!(address = %args.listen, "serving admission reviews over HTTPS");
    server::serve(
        listener,
        tls,
        app,
        server::shutdown_signal(),
        Duration::from_secs(args.shutdown_timeout_seconds),
    )
    .await;
    Ok(())
}
