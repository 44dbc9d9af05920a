//! The one load path of every policy, at start and on every reload: the specs a source names,
//! the module bytes a spec names (read, or fetched), a compiled and validated version, and its
//! mirror check.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::mirror_check::{MirrorCheck, MirrorHealth};
use crate::policies::config::{self, Module, PolicySpec};
use crate::policies::{
    EMBEDDED_POLICY_NAME, EMBEDDED_POLICY_WASM, Fetcher, LoadedPolicy, PolicyError, PolicySource,
};
use crate::wasm::{CallLimits, Runtime};

/// The running check a spec asks for: the old one if it checks the same thing (it keeps its
/// state), a new one otherwise, none if the spec has no check.
pub(super) fn start_check(
    spec: &PolicySpec,
    old: Option<&Arc<MirrorHealth>>,
) -> Result<Option<Arc<MirrorHealth>>, PolicyError> {
    let Some(check) = &spec.mirror_check else {
        return Ok(None);
    };
    if let Some(old) = old
        && old.check() == check
    {
        return Ok(Some(Arc::clone(old)));
    }
    MirrorHealth::start(&spec.name, check.clone())
        .map(|health| Some(Arc::new(health)))
        .map_err(|source| PolicyError::MirrorCheck {
            policy: spec.name.clone(),
            source,
        })
}

/// The name of the first spec: `specs` refuses an empty list, so there is one.
pub(super) fn first_name(specs: &[PolicySpec]) -> String {
    specs
        .first()
        .map_or_else(String::new, |spec| spec.name.clone())
}

/// The policies a source names: the embedded module as `pullthrough`, allowed to mutate, or the
/// entries of the policies file.
pub(super) fn specs(
    source: &PolicySource,
    embedded_check: Option<&MirrorCheck>,
) -> Result<Vec<PolicySpec>, PolicyError> {
    match source {
        PolicySource::Embedded { settings } => Ok(vec![PolicySpec {
            name: EMBEDDED_POLICY_NAME.to_owned(),
            module: Module::Embedded,
            settings: settings.clone(),
            allowed_to_mutate: true,
            allowed_to_mutate_given: true,
            timeout: None,
            mirror_check: embedded_check.cloned(),
        }]),
        PolicySource::File(path) => {
            let specs = config::read(path)?;
            for warning in specs.iter().filter_map(PolicySpec::warning) {
                tracing::warn!(file = %path.display(), "{warning}");
            }
            Ok(specs)
        }
    }
}

/// The module bytes a spec names: the embedded module, the file, or what `fetcher` fetched
/// (its digest verified; from the store when the digest is there already).
pub(super) async fn read_module(
    fetcher: &Fetcher,
    spec: &PolicySpec,
) -> Result<Cow<'static, [u8]>, PolicyError> {
    let path = match &spec.module {
        Module::Embedded => return Ok(Cow::Borrowed(EMBEDDED_POLICY_WASM)),
        Module::File(path) => path,
        Module::Remote(remote) => {
            let fetched = fetcher
                .fetch(remote)
                .await
                .map_err(|source| PolicyError::Fetch {
                    policy: spec.name.clone(),
                    module: remote.to_string(),
                    source,
                })?;
            tracing::debug!(policy = %spec.name, module = %remote, digest = %fetched.digest, from_store = fetched.from_store, "policy module fetched");
            return Ok(Cow::Owned(fetched.bytes));
        }
    };
    tokio::fs::read(path)
        .await
        .map(Cow::Owned)
        .map_err(|source| PolicyError::ReadModule {
            policy: spec.name.clone(),
            path: path.clone(),
            source,
        })
}

/// Loads module bytes per their spec on the blocking pool: the one load path of every policy.
pub(super) async fn load_spec(
    runtime: &Runtime,
    spec: &PolicySpec,
    bytes: Cow<'static, [u8]>,
) -> Result<LoadedPolicy, PolicyError> {
    let limits = limits_for(runtime, spec.timeout);
    let spec = spec.clone();
    let worker = runtime.clone();
    let policy = spec.name.clone();
    let mirrors = mirror_choices(&spec);
    runtime
        .run_blocking(move || {
            LoadedPolicy::load(
                &worker,
                &spec.name,
                &bytes,
                spec.settings,
                spec.allowed_to_mutate,
                limits,
            )
            .and_then(|loaded| loaded.with_mirror_choices(mirrors))
        })
        .await
        .map_err(|source| PolicyError::Call {
            policy,
            operation: "load",
            source,
        })?
}

/// The mirrors a spec's check chooses between: one version of the settings per choice.
pub(super) fn mirror_choices(spec: &PolicySpec) -> usize {
    spec.mirror_check.as_ref().map_or(1, |c| c.urls().len())
}

/// Limits for a policy: the runtime's, with the policy's own deadline if it has one.
pub(super) fn limits_for(runtime: &Runtime, timeout: Option<Duration>) -> CallLimits {
    let defaults = runtime.default_limits();
    CallLimits {
        timeout: timeout.unwrap_or(defaults.timeout),
        ..defaults
    }
}
