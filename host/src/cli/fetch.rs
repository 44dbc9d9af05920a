//! Flags of module fetching (`registry://` and `https://` modules), for `serve`, `run` and
//! `scan` to `#[command(flatten)]`. The names are Kubewarden's policy-server and kwctl ones.

use std::path::PathBuf;

use crate::policies::FetchConfig;

/// Where remote policy modules come from and where they are kept.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FetchArgs {
    /// Sources file in the shape of Kubewarden's sources.yaml: `insecure_sources` (hosts
    /// reached over plain HTTP; no other is) and `source_authorities` (extra certificate
    /// authorities by host).
    #[arg(long, value_name = "FILE", env = "PULLTHROUGH_SOURCES_PATH")]
    pub sources_path: Option<PathBuf>,
    /// Registry credentials: a Docker config file (`{"auths": …}`), e.g. a pull secret's
    /// `.dockerconfigjson` mounted as a file. Re-read at every fetch.
    #[arg(long, value_name = "FILE", env = "PULLTHROUGH_DOCKER_CONFIG_JSON_PATH")]
    pub docker_config_json_path: Option<PathBuf>,
    /// Keep fetched modules here, by digest, so restarts (and replicas sharing the volume) skip
    /// the download [default: $XDG_CACHE_HOME/pullthrough/modules].
    #[arg(long, value_name = "DIR", env = "PULLTHROUGH_MODULE_STORE_DIR")]
    pub module_store_dir: Option<PathBuf>,
}

impl FetchArgs {
    /// The fetch configuration these flags describe.
    pub fn config(&self) -> FetchConfig {
        FetchConfig {
            sources_path: self.sources_path.clone(),
            docker_config_path: self.docker_config_json_path.clone(),
            store_dir: self.module_store_dir.clone(),
        }
    }
}
