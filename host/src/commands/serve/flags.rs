//! The flags of `pullthrough serve` and the [`ServeConfig`] they describe, checked.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::{BodyArgs, MirrorCheckArgs, MirrorCheckArgsError, ServeConfig};
use crate::cli::{
    ArgsError, CertValidityArgs, PolicyArgs, SanArgs, ServiceArgs, WebhookArgs, values,
};
use crate::k8s;
use crate::rotation::CertificateSource;
use crate::server::{self, FailureMode};

/// Why the flags of `serve` describe no configuration that can run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--settings-json` does not parse.
    #[error("--settings-json is not JSON")]
    SettingsJson(#[source] serde_json::Error),
    /// The mirror check flags do not fit the settings.
    #[error(transparent)]
    MirrorCheck(#[from] MirrorCheckArgsError),
    /// A policy flag is out of range.
    #[error(transparent)]
    Policy(#[from] ArgsError),
    /// `--extra-san` with `--tls-cert`.
    #[error(
        "--extra-san names a generated certificate's names; with --tls-cert the names are the \
         certificate's own"
    )]
    ExtraSanWithTlsCert,
    /// `--register` with `--tls-cert` but no `--ca-file`.
    #[error("--register with --tls-cert needs --ca-file for the caBundle")]
    RegisterWithoutCaFile,
}

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
    /// Async worker threads (0: one per core). At most min(workers, cores) − 1 guest calls run
    /// directly on a worker; the rest run on the blocking pool.
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
    fn settings(&self) -> Result<serde_json::Value, ConfigError> {
        crate::cli::embedded_settings(
            self.settings_json.as_deref(),
            self.mirror.as_deref(),
            &self.pull_secrets.mirror_pull_secrets,
        )
        .map_err(ConfigError::SettingsJson)
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

impl ServeArgs {
    /// The configuration these flags describe, or what is wrong with them.
    pub fn config(&self) -> Result<ServeConfig, ConfigError> {
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
        // A long-lived server: Cranelift's memory leaves with a child process (compile_child.rs).
        runtime.compile_in_child = true;
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

    fn certificate_source(&self) -> Result<CertificateSource, ConfigError> {
        let tls = &self.tls;
        if let (Some(cert), Some(key)) = (&tls.tls_cert, &tls.tls_key) {
            if !self.sans.extra_sans.is_empty() {
                return Err(ConfigError::ExtraSanWithTlsCert);
            }
            if self.register && tls.ca_file.is_none() {
                return Err(ConfigError::RegisterWithoutCaFile);
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
