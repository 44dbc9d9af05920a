//! Engine and policy flags, for a command to `#[command(flatten)]` (the server's `serve`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::values;
use crate::policies::PolicySource;
use crate::wasm::RuntimeConfig;

/// Where policies come from and the limits guests run under.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Policies file (Kubewarden `policies.yml` shape); its first entry is the default policy.
    /// Without it the embedded mirror policy is used, named `pullthrough`. A module may be a
    /// path, `registry://HOST/REPOSITORY:TAG`, `registry://…@sha256:…` or `https://…`.
    #[arg(long, value_name = "FILE", env = "PULLTHROUGH_POLICIES")]
    pub policies: Option<PathBuf>,
    #[command(flatten)]
    pub fetch: super::FetchArgs,
    /// Guest calls running at once; more wait. Defaults to the number of CPUs.
    #[arg(long, value_name = "N", value_parser = values::positive_usize, env = "PULLTHROUGH_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    /// Wall-clock budget of one evaluation, in milliseconds (a policy's `timeoutEvalSeconds`
    /// overrides it).
    #[arg(long, value_name = "MS", default_value_t = 2000, value_parser = values::positive, env = "PULLTHROUGH_POLICY_TIMEOUT_MS")]
    pub policy_timeout_ms: u64,
    /// Linear-memory cap of one guest, in MiB (1 to 4096, the wasm32 address space).
    #[arg(long, value_name = "MIB", default_value_t = 128, value_parser = memory_mib, env = "PULLTHROUGH_POLICY_MEMORY_MIB")]
    pub policy_memory_mib: usize,
    /// Allocate guest instances on demand instead of from wasmtime's pre-reserved pool.
    #[arg(long, value_parser = values::boolish(), env = "PULLTHROUGH_NO_POOLING")]
    pub no_pooling: bool,
    /// Cache compiled modules in this directory so restarts skip compilation (~0.5 s for
    /// policy.wasm). Only pullthrough may write there: cached machine code is run as is.
    #[arg(long, value_name = "DIR", env = "PULLTHROUGH_MODULE_CACHE_DIR")]
    pub module_cache_dir: Option<PathBuf>,
}

/// The mirror's pull secrets for the embedded policy, as `--mirror` gives its mirror (the
/// `imagePullSecrets` setting); `serve` and `scan` share it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PullSecretArgs {
    /// Pull secret the mirror needs (repeatable or comma-separated): added to `imagePullSecrets`
    /// of every pod spec whose images are rewritten (the policy's `imagePullSecrets` setting).
    #[arg(
        long = "mirror-pull-secret",
        value_name = "NAME",
        value_delimiter = ',',
        requires = "mirror",
        env = "PULLTHROUGH_MIRROR_PULL_SECRET"
    )]
    pub mirror_pull_secrets: Vec<String>,
}

/// `--policy-memory-mib`: a wasm32 guest cannot address more than 4 GiB.
fn memory_mib(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n @ 1..=4096) => Ok(n),
        _ => Err(
            "must be a whole number of MiB from 1 to 4096 (the wasm32 address space)".to_owned(),
        ),
    }
}

/// The embedded policy's settings from `--settings-json`, or from `--mirror` and
/// `--mirror-pull-secret` (`{"mirror": MIRROR, "imagePullSecrets": [NAME, …]}`), as `serve` and
/// `scan` read them; `{}` with neither (the policy then says the mirror is missing).
pub fn embedded_settings(
    settings_json: Option<&str>,
    mirror: Option<&str>,
    pull_secrets: &[String],
) -> Result<Value, serde_json::Error> {
    Ok(match (settings_json, mirror) {
        (Some(text), _) => serde_json::from_str(text)?,
        (None, Some(mirror)) if pull_secrets.is_empty() => serde_json::json!({ "mirror": mirror }),
        (None, Some(mirror)) => {
            serde_json::json!({ "mirror": mirror, "imagePullSecrets": pull_secrets })
        }
        (None, None) => serde_json::json!({}),
    })
}

/// A flag value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// See the message.
    #[error("{0}")]
    Invalid(&'static str),
}

impl PolicyArgs {
    /// The runtime configuration these flags describe.
    pub fn runtime_config(&self) -> Result<RuntimeConfig, ArgsError> {
        if self.max_concurrency == Some(0) {
            return Err(ArgsError::Invalid("--max-concurrency must be at least 1"));
        }
        if self.policy_timeout_ms == 0 {
            return Err(ArgsError::Invalid("--policy-timeout-ms must be at least 1"));
        }
        if self.policy_memory_mib == 0 || self.policy_memory_mib > 4096 {
            return Err(ArgsError::Invalid(
                "--policy-memory-mib must be between 1 and 4096 (wasm32 address space)",
            ));
        }
        let defaults = RuntimeConfig::default();
        Ok(RuntimeConfig {
            max_concurrency: self.max_concurrency.unwrap_or(defaults.max_concurrency),
            inline_calls: defaults.inline_calls,
            timeout: Duration::from_millis(self.policy_timeout_ms),
            memory_limit: self.policy_memory_mib * 1024 * 1024,
            pooling: !self.no_pooling,
            cache_dir: self.module_cache_dir.clone(),
            compile_in_child: false,
        })
    }

    /// The policies file if one was given, else the embedded policy with `embedded_settings`
    /// (for example `{"mirror": …}` from the server's `--mirror`).
    pub fn source(&self, embedded_settings: Value) -> PolicySource {
        match &self.policies {
            Some(path) => PolicySource::File(path.clone()),
            None => PolicySource::Embedded {
                settings: embedded_settings,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        policy: PolicyArgs,
    }

    fn parse(args: &[&str]) -> PolicyArgs {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .expect("parses")
            .policy
    }

    #[test]
    fn flags_become_a_runtime_config() {
        let args = parse(&[
            "--max-concurrency",
            "3",
            "--policy-timeout-ms",
            "250",
            "--policy-memory-mib",
            "32",
            "--no-pooling",
            "--module-cache-dir",
            "/var/cache/pt",
        ]);
        assert_eq!(
            args.runtime_config().expect("valid"),
            RuntimeConfig {
                max_concurrency: 3,
                inline_calls: RuntimeConfig::default().inline_calls,
                timeout: Duration::from_millis(250),
                memory_limit: 32 * 1024 * 1024,
                pooling: false,
                cache_dir: Some(PathBuf::from("/var/cache/pt")),
                compile_in_child: false,
            }
        );
        assert_eq!(
            args.source(serde_json::json!({"mirror": "m"})),
            PolicySource::Embedded {
                settings: serde_json::json!({"mirror": "m"})
            }
        );
        let args = parse(&["--policies", "/etc/p.yml"]);
        assert_eq!(
            args.source(Value::Null),
            PolicySource::File("/etc/p.yml".into())
        );
    }

    #[test]
    fn impossible_values_are_refused() {
        let cases = [
            (
                ["--max-concurrency", "0"],
                "error: invalid value '0' for '--max-concurrency <N>': must be at least 1",
            ),
            (
                ["--policy-timeout-ms", "0"],
                "error: invalid value '0' for '--policy-timeout-ms <MS>': must be at least 1",
            ),
            (
                ["--policy-memory-mib", "0"],
                "error: invalid value '0' for '--policy-memory-mib <MIB>': must be a whole number \
                 of MiB from 1 to 4096 (the wasm32 address space)",
            ),
        ];
        for (args, expected) in cases {
            let error = Cli::try_parse_from(std::iter::once("test").chain(args))
                .expect_err("refused")
                .to_string();
            assert_eq!(error.lines().next(), Some(expected), "{error}");
        }
    }
}
