//! `pullthrough manifests`: prints a complete install (Namespace, ServiceAccount, RBAC,
//! Deployment, Service) as YAML, after checking that every flag gives an install that can run.

pub use crate::k8s::install::DEFAULT_IMAGE;
use crate::cli::values;
use crate::k8s::install::{self, Install};

/// Flags of `pullthrough manifests`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestsArgs {
    /// Namespace to install into (created by the output, and never rewritten).
    #[arg(long, value_name = "NAMESPACE", default_value = crate::k8s::NAME, value_parser = values::dns_label, env = "PULLTHROUGH_NAMESPACE")]
    pub namespace: String,
    /// Container image of pullthrough.
    #[arg(long, default_value = DEFAULT_IMAGE, env = "PULLTHROUGH_IMAGE")]
    pub image: String,
    /// Registry host (and optional path prefix) of the pull-through cache images are rewritten to.
    #[arg(long, env = "PULLTHROUGH_MIRROR")]
    pub mirror: String,
    /// Number of webhook replicas; they share one generated CA through a Secret.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = values::positive_i32, env = "PULLTHROUGH_REPLICAS")]
    pub replicas: i32,
}

/// Namespaces an install must not claim: the output creates its namespace (so `kubectl delete
/// -f` deletes it) and the webhook never rewrites it.
const SHARED_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

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
}

impl ManifestsArgs {
    /// The install these flags describe.
    pub fn install(&self) -> Install {
        Install {
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            mirror: self.mirror.clone(),
            replicas: self.replicas,
        }
    }

    /// Checks what clap cannot: the mirror with the policy's own settings code (what `serve`
    /// runs at start), the image with the policy's reference parser, and the namespace.
    pub fn validate(&self) -> Result<(), Error> {
        if SHARED_NAMESPACES.contains(&self.namespace.as_str()) {
            return Err(Error::SharedNamespace(self.namespace.clone()));
        }
        let settings = pullthrough_policy::Settings {
            mirror: self.mirror.clone(),
            ..pullthrough_policy::Settings::default()
        };
        settings.validate().map_err(|source| Error::Mirror {
            value: self.mirror.clone(),
            source,
        })?;
        pullthrough_policy::parse_reference(&self.image).map_err(|source| Error::Image {
            value: self.image.clone(),
            source,
        })?;
        Ok(())
    }
}

/// The install as a multi-document YAML string.
pub fn render(args: &ManifestsArgs) -> Result<String, Error> {
    args.validate()?;
    Ok(install::render(&args.install())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(namespace: &str, image: &str, mirror: &str) -> ManifestsArgs {
        ManifestsArgs {
            namespace: namespace.to_owned(),
            image: image.to_owned(),
            mirror: mirror.to_owned(),
            replicas: 2,
        }
    }

    #[test]
    fn flags_that_would_crash_loop_are_refused() {
        let cases = [
            (
                args("pullthrough", DEFAULT_IMAGE, "http://x"),
                "--mirror \"http://x\" is not a mirror the policy accepts: settings.mirror must \
                 be host[:port] optionally followed by a path, got \"http://x\": leave out the \
                 scheme",
            ),
            (
                args("pullthrough", DEFAULT_IMAGE, ""),
                "--mirror \"\" is not a mirror the policy accepts: settings.mirror is required: \
                 the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com",
            ),
            (
                args("pullthrough", "Not An Image", "m.example.com"),
                "--image \"Not An Image\" is not an image reference: invalid reference format",
            ),
            (
                args("default", DEFAULT_IMAGE, "m.example.com"),
                "--namespace default is shared with other workloads: the install creates its \
                 namespace (`kubectl delete -f` would delete it) and pullthrough never rewrites \
                 images in its own namespace; choose one of its own, e.g. --namespace pullthrough",
            ),
        ];
        for (args, expected) in cases {
            let error = render(&args).expect_err("refused");
            assert_eq!(crate::report::one_line(&error), expected);
        }
        render(&args("team-webhooks", "registry.local:5000/pt:1", "m.example.com/cache"))
            .expect("a working install renders");
    }
}
