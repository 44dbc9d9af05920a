//! `pullthrough manifests`: prints a complete install (Namespace, ServiceAccount, RBAC,
//! Deployment, Service, PodDisruptionBudget, NetworkPolicy) as YAML, after checking that every
//! flag gives an install that can run; with `--admission-policy`, a MutatingAdmissionPolicy
//! instead (`manifests/admission_policy.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{PullSecretArgs, values};
use crate::k8s::FailurePolicy;
pub use crate::k8s::install::DEFAULT_IMAGE;
use crate::k8s::install::{self, IMAGE_POLICY_MODULE, Install, POLICIES_DIR, Policy};

mod admission_policy;
pub use admission_policy::Output;

/// Flags of `pullthrough manifests`. Exactly one of `--mirror` and `--policies` says what the
/// webhook serves (`--settings-json` or `--settings-path` instead of `--mirror` for an admission
/// policy).
#[derive(Debug, Clone, clap::Args)]
// `manifests` does not use the secrets itself: it passes them on to serve.
#[command(mut_arg("mirror_pull_secrets", |arg| arg.help(
    "Pull secret the mirror needs (repeatable or comma-separated), passed to serve as \
     `--mirror-pull-secret NAME`"
)))]
#[command(group(
    clap::ArgGroup::new("what_to_serve")
        .args(["mirror", "policies", "settings_json", "settings_path"])
        .required(true)
))]
// The install's own flags mean nothing to an admission policy. The conflict sits on the group,
// not on the switch, so the switch stands alone (the CLI tests probe each switch by itself).
#[command(group(
    clap::ArgGroup::new("install_only")
        .args([
            "policies", "namespace", "image", "replicas", "guest_slots", "policy_memory_mib",
            "priority_class_name", "metrics_namespace_selector", "shutdown_grace_seconds",
        ])
        .multiple(true)
        .conflicts_with("admission_policy")
))]
pub struct ManifestsArgs {
    /// Print a MutatingAdmissionPolicy and its binding instead of the install: the same rewrite
    /// as CEL the API server runs (admissionregistration.k8s.io/v1, Kubernetes 1.36 or later),
    /// with no webhook to run. Takes --mirror (and --mirror-pull-secret), --settings-json or
    /// --settings-path; --failure-policy and --exclude-namespaces apply to it.
    #[arg(
        long,
        value_parser = values::boolish(),
        env = "PULLTHROUGH_ADMISSION_POLICY"
    )]
    pub admission_policy: bool,
    /// Settings of the policy as JSON, in the shape `run` takes (instead of --mirror), e.g.
    /// `{"mirror":"m.example.com","layout":"prefixed"}`; with --admission-policy.
    #[arg(
        long,
        value_name = "JSON",
        requires = "admission_policy",
        conflicts_with_all = ["settings_path", "mirror_pull_secrets"],
        env = "PULLTHROUGH_SETTINGS_JSON"
    )]
    pub settings_json: Option<String>,
    /// Settings of the policy as a YAML or JSON file (instead of --mirror); with
    /// --admission-policy.
    #[arg(
        long,
        value_name = "FILE",
        requires = "admission_policy",
        conflicts_with = "mirror_pull_secrets",
        env = "PULLTHROUGH_SETTINGS_PATH"
    )]
    pub settings_path: Option<PathBuf>,
    /// Namespace to install into (created by the output, and never rewritten).
    #[arg(long, value_name = "NAMESPACE", default_value = crate::k8s::NAME, value_parser = values::dns_label, env = "PULLTHROUGH_NAMESPACE")]
    pub namespace: String,
    /// Container image of pullthrough.
    #[arg(long, default_value = DEFAULT_IMAGE.as_str(), env = "PULLTHROUGH_IMAGE")]
    pub image: String,
    /// Registry host (and optional path prefix) of the pull-through cache images are rewritten to.
    #[arg(long, env = "PULLTHROUGH_MIRROR")]
    pub mirror: Option<String>,
    /// A policies file (the shape `serve --policies` reads) to serve instead of --mirror: put in
    /// the ConfigMap pullthrough-policies, mounted at /etc/pullthrough, and hot-swapped when
    /// the ConfigMap changes. The image's bundled policy is /usr/share/pullthrough/policy.wasm.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "mirror_pull_secrets",
        env = "PULLTHROUGH_POLICIES"
    )]
    pub policies: Option<PathBuf>,
    /// Number of webhook replicas; they share one generated CA through a Secret.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = values::positive_i32, env = "PULLTHROUGH_REPLICAS")]
    pub replicas: i32,
    /// What the API server does when the webhook is unreachable or fails (serve's flag).
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = FailurePolicy::Ignore, env = "PULLTHROUGH_FAILURE_POLICY")]
    pub failure_policy: FailurePolicy,
    /// Namespaces never rewritten (comma-separated), passed to serve as given; without the flag
    /// serve's default list of infrastructure namespaces applies.
    #[arg(
        long,
        value_name = "NAMESPACE",
        value_delimiter = ',',
        env = "PULLTHROUGH_EXCLUDE_NAMESPACES"
    )]
    pub exclude_namespaces: Option<Vec<String>>,
    #[command(flatten)]
    pub pull_secrets: PullSecretArgs,
    /// Guest calls one replica runs at once (serve's --max-concurrency); the memory limit grows
    /// by --policy-memory-mib for each.
    #[arg(long, value_name = "N", default_value_t = install::DEFAULT_GUEST_SLOTS, value_parser = clap::value_parser!(u32).range(1..=64), env = "PULLTHROUGH_GUEST_SLOTS")]
    pub guest_slots: u32,
    /// Linear-memory cap of one guest in MiB (serve's flag); sizes the memory limit.
    #[arg(long, value_name = "MIB", default_value_t = install::DEFAULT_POLICY_MEMORY_MIB, value_parser = clap::value_parser!(u32).range(1..=4096), env = "PULLTHROUGH_POLICY_MEMORY_MIB")]
    pub policy_memory_mib: u32,
    /// Priority class of the webhook's pods; '' for none.
    #[arg(long, value_name = "NAME", default_value = install::DEFAULT_PRIORITY_CLASS, env = "PULLTHROUGH_PRIORITY_CLASS_NAME")]
    pub priority_class_name: String,
    /// Labels (KEY=VALUE, comma-separated, all required) of the namespaces whose pods may
    /// scrape the metrics port, e.g. where Prometheus runs.
    #[arg(
        long,
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        value_parser = label,
        default_value = "kubernetes.io/metadata.name=monitoring",
        env = "PULLTHROUGH_METRICS_NAMESPACE_SELECTOR"
    )]
    pub metrics_namespace_selector: Vec<(String, String)>,
    /// Seconds serve keeps answering after SIGTERM while endpoints drop the pod (serve's flag);
    /// the pod's termination grace period covers it plus the drain.
    #[arg(long, value_name = "SECONDS", default_value_t = install::DEFAULT_SHUTDOWN_GRACE_SECONDS, value_parser = clap::value_parser!(u32).range(0..=300), env = "PULLTHROUGH_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: u32,
}

/// One `KEY=VALUE` label of --metrics-namespace-selector.
fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "expected KEY=VALUE such as kubernetes.io/metadata.name=monitoring, got {text:?}"
        )),
    }
}

/// Why the flags describe an install that would not work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded policy would refuse this mirror, so every pod would crash-loop.
    #[error("--mirror {value:?} is not a mirror the policy accepts")]
    Mirror {
        value: String,
        #[source]
        source: pullthrough_policy::SettingsError,
    },
    /// The policies file could not be read.
    #[error("--policies {path}: cannot read it")]
    ReadPolicies {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The policies file would not load in the pods.
    #[error("--policies {path} would not load")]
    Policies {
        path: PathBuf,
        #[source]
        source: crate::policies::ConfigError,
    },
    /// An entry of the image's bundled policy with settings the policy refuses.
    #[error(
        "--policies {path}: policy {policy:?} ({IMAGE_POLICY_MODULE}) would refuse its settings"
    )]
    PolicySettings {
        path: PathBuf,
        policy: String,
        #[source]
        source: pullthrough_policy::SettingsError,
    },
    /// The image could not be pulled by any container runtime.
    #[error("--image {value:?} is not an image reference")]
    Image {
        value: String,
        #[source]
        source: pullthrough_policy::ParseError,
    },
    /// A namespace other workloads live in.
    #[error(
        "--namespace {0} is shared with other workloads: the install creates its namespace \
         (`kubectl delete -f` would delete it) and pullthrough never rewrites images in its own \
         namespace; choose one of its own, e.g. --namespace pullthrough"
    )]
    SharedNamespace(String),
    #[error(transparent)]
    Render(#[from] install::Error),
    /// `--settings-json` or `--settings-path` gives no settings.
    #[error(transparent)]
    SettingsArgs(#[from] crate::cli::SettingsArgsError),
    /// The admission policy could not be generated (the settings are refused).
    #[error(transparent)]
    AdmissionPolicy(#[from] crate::admission_policy::Error),
}

impl ManifestsArgs {
    /// The install these flags describe, once [`Self::validate`] passed (it reads --policies).
    fn install(&self, policy: Policy) -> Install {
        Install {
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            policy,
            replicas: self.replicas,
            failure_policy: self.failure_policy,
            exclude_namespaces: self.exclude_namespaces.clone(),
            mirror_pull_secrets: self.pull_secrets.mirror_pull_secrets.clone(),
            guest_slots: self.guest_slots,
            policy_memory_mib: self.policy_memory_mib,
            priority_class_name: self.priority_class_name.clone(),
            metrics_namespace_labels: self
                .metrics_namespace_selector
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
            shutdown_grace_seconds: self.shutdown_grace_seconds,
        }
    }

    /// Checks what clap cannot, and returns what the webhook will serve: the mirror with the
    /// policy's own settings code (what `serve` runs at start), the policies file with serve's
    /// parser and the bundled policy's entries with its settings code, the image with the
    /// policy's reference parser, and the namespace.
    pub fn validate(&self) -> Result<Policy, Error> {
        // The output creates its namespace (so `kubectl delete -f` would delete it), and the
        // webhook never rewrites it.
        if crate::k8s::SHARED_NAMESPACES.contains(&self.namespace.as_str()) {
            return Err(Error::SharedNamespace(self.namespace.clone()));
        }
        pullthrough_policy::parse_reference(&self.image).map_err(|source| Error::Image {
            value: self.image.clone(),
            source,
        })?;
        match (&self.mirror, &self.policies) {
            (_, Some(path)) => validate_policies(path).map(Policy::File),
            (mirror, None) => {
                let mirror = mirror.clone().unwrap_or_default();
                let settings = pullthrough_policy::Settings {
                    mirror: mirror.clone(),
                    ..pullthrough_policy::Settings::default()
                };
                settings.validate().map_err(|source| Error::Mirror {
                    value: mirror.clone(),
                    source,
                })?;
                Ok(Policy::Mirror(mirror))
            }
        }
    }
}

/// The policies file's text, if serve would load it from the ConfigMap's volume. Modules are
/// read in the pod, so only the bundled policy's settings can be checked here.
fn validate_policies(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadPolicies {
        path: path.to_owned(),
        source,
    })?;
    let specs = crate::policies::parse_file(&text, Path::new(POLICIES_DIR)).map_err(|source| {
        Error::Policies {
            path: path.to_owned(),
            source,
        }
    })?;
    for spec in specs {
        if spec.module.path() != Some(Path::new(IMAGE_POLICY_MODULE)) {
            continue;
        }
        let settings = serde_json::to_vec(&spec.settings).unwrap_or_default();
        pullthrough_policy::Settings::from_json(&settings)
            .and_then(|settings| settings.validate())
            .map_err(|source| Error::PolicySettings {
                path: path.to_owned(),
                policy: spec.name.clone(),
                source,
            })?;
    }
    Ok(text)
}

/// The install as a multi-document YAML string.
pub fn render(args: &ManifestsArgs) -> Result<String, Error> {
    let policy = args.validate()?;
    Ok(install::render(&args.install(policy))?)
}

/// What `pullthrough manifests` prints: the install, or the admission policy and its notes.
pub fn output(args: &ManifestsArgs) -> Result<Output, Error> {
    if args.admission_policy {
        admission_policy::render(args)
    } else {
        Ok(Output {
            yaml: render(args)?,
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(namespace: &str, image: &str, mirror: &str) -> ManifestsArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            manifests: ManifestsArgs,
        }
        let argv = [
            "manifests",
            "--namespace",
            namespace,
            "--image",
            image,
            "--mirror",
            mirror,
        ];
        <Cli as clap::Parser>::try_parse_from(argv)
            .expect("parses")
            .manifests
    }

    #[test]
    fn flags_that_would_crash_loop_are_refused() {
        let cases = [
            (
                args("pullthrough", &DEFAULT_IMAGE, "http://x"),
                "--mirror \"http://x\" is not a mirror the policy accepts: settings.mirror must \
                 be host[:port] optionally followed by a path, got \"http://x\": leave out the \
                 scheme",
            ),
            (
                args("pullthrough", &DEFAULT_IMAGE, ""),
                "--mirror \"\" is not a mirror the policy accepts: settings.mirror is required: \
                 the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com",
            ),
            (
                args("pullthrough", "Not An Image", "m.example.com"),
                "--image \"Not An Image\" is not an image reference: invalid reference format: repository name (library/Not An Image) must be lowercase",
            ),
            (
                args("default", &DEFAULT_IMAGE, "m.example.com"),
                "--namespace default is shared with other workloads: the install creates its \
                 namespace (`kubectl delete -f` would delete it) and pullthrough never rewrites \
                 images in its own namespace; choose one of its own, e.g. --namespace pullthrough",
            ),
        ];
        for (args, expected) in cases {
            let error = render(&args).expect_err("refused");
            assert_eq!(crate::report::one_line(&error), expected);
        }
        render(&args(
            "team-webhooks",
            "registry.local:5000/pt:1",
            "m.example.com/cache",
        ))
        .expect("a working install renders");
    }
}
