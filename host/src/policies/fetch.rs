//! Policy modules from registries and web servers: `registry://host/path:tag`,
//! `registry://host/path@sha256:…` and `https://…` in a policies file (or `pullthrough run`'s
//! MODULE), as in Kubewarden's `policies.yml`.
//!
//! - [`remote`]: what such a `module` names, checked when the file is read.
//! - [`sources`]: the sources file (Kubewarden's `sources.yaml`): hosts reached over plain HTTP,
//!   and the certificate authorities of the others.
//! - [`auth`]: credentials from a Docker config file (the pull-secret format).
//! - [`store`]: the local store of fetched registry blobs, keyed by digest.
//! - [`oci`]: the OCI client (the `oci-client` crate): tag to digest, manifest, Wasm layer.
//! - [`https`]: a plain download, known by the digest of what arrived.
//! - [`error`]: why a fetch failed, in words an operator can act on.
//!
//! Every fetch re-reads the sources and Docker config files, so a rotated pull secret or a new
//! certificate authority takes effect on the next reload without a restart.

mod auth;
mod error;
mod https;
mod oci;
mod remote;
mod sources;
mod store;

use std::path::PathBuf;
use std::time::Duration;

pub use error::FetchError;
pub(crate) use remote::Remote;

use auth::Auths;
use sources::Sources;
use store::Store;

/// The largest module a fetch accepts: policy.wasm is about 2 MiB; Kubewarden's largest
/// policies (Rego bundles) are tens of MiB.
pub(crate) const MAX_MODULE_BYTES: u64 = 256 * 1024 * 1024;

/// How long one fetch may take, from the first connection to the last byte stored.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a connection may take to open: an unreachable host fails in this time at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where fetches look for their settings and keep what they fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchConfig {
    /// The sources file (`insecure_sources`, `source_authorities`), as Kubewarden's.
    pub sources_path: Option<PathBuf>,
    /// A Docker config file (`{"auths": {"host": {"auth": "…"}}}`): a pull secret's content.
    pub docker_config_path: Option<PathBuf>,
    /// The store's directory; [`default_store_dir`] when `None`.
    pub store_dir: Option<PathBuf>,
}

/// The store when none is given: `$XDG_CACHE_HOME/pullthrough/modules`, else
/// `$HOME/.cache/pullthrough/modules`, else the temporary directory's `pullthrough-modules`.
pub fn default_store_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        });
    match cache {
        Some(cache) => cache.join("pullthrough").join("modules"),
        None => std::env::temp_dir().join("pullthrough-modules"),
    }
}

/// A fetched module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// The Wasm module.
    pub(crate) bytes: Vec<u8>,
    /// What the module was resolved to: the manifest digest of a registry module, the content
    /// digest of a downloaded one (`sha256:…`).
    pub(crate) digest: String,
    /// Whether the bytes came from the store without a download.
    pub(crate) from_store: bool,
}

/// Fetches remote modules as a [`FetchConfig`] says. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    config: FetchConfig,
    store: Store,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::unchecked(FetchConfig::default())
    }
}

impl Fetcher {
    /// Checks that the sources and Docker config files can be read now, so that a mistake in
    /// them stops a start-up instead of the first fetch.
    pub(crate) fn new(config: FetchConfig) -> Result<Self, FetchError> {
        let fetcher = Self::unchecked(config);
        fetcher.settings()?;
        Ok(fetcher)
    }

    fn unchecked(config: FetchConfig) -> Self {
        let store = Store::new(config.store_dir.clone().unwrap_or_else(default_store_dir));
        Self { config, store }
    }

    /// Fetches `remote` (or takes it from the store), its digest verified.
    pub(crate) async fn fetch(&self, remote: &Remote) -> Result<Fetched, FetchError> {
        let (sources, auths) = self.settings()?;
        let work = async {
            match remote {
                Remote::Registry(reference) => {
                    oci::fetch(reference, &sources, &auths, &self.store).await
                }
                Remote::Url(url) => https::fetch(url, &sources).await,
            }
        };
        tokio::time::timeout(FETCH_TIMEOUT, work)
            .await
            .map_err(|_| FetchError::Timeout(FETCH_TIMEOUT))?
    }

    fn settings(&self) -> Result<(Sources, Auths), FetchError> {
        let sources = match &self.config.sources_path {
            Some(path) => Sources::read(path)?,
            None => Sources::default(),
        };
        let auths = match &self.config.docker_config_path {
            Some(path) => Auths::read(path)?,
            None => Auths::default(),
        };
        Ok((sources, auths))
    }
}
