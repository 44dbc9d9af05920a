//! Cranelift in a child process: `serve` compiles each module by running its own binary as
//! `pullthrough compile-module`, which reads the Wasm on stdin and writes wasmtime's compiled
//! artifact on stdout, then loads that artifact.
//!
//! Compiling in the server itself left the compiler's code and heap in the server's resident
//! set for as long as it runs: 5 to 7 MiB over a compiled-module cache's warm start, under load
//! (BENCHMARKS.md, "Peak RSS"). A child's memory goes back to the kernel when it exits. The
//! child builds its engine from the same settings, and wasmtime refuses an artifact whose engine
//! does not match; any failure here falls back to compiling in the server, with a warning.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{LoadError, Runtime, RuntimeConfig};

/// The subcommand the child runs, hidden from `--help`.
pub const SUBCOMMAND: &str = "compile-module";

/// The child's exit status when the module itself does not compile. It prints nothing then: the
/// server compiles the module itself to report why, as it would without a child, and logs no
/// warning about the child.
pub const DOES_NOT_COMPILE: u8 = 3;

/// Why a child could not compile a module.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildError {
    #[error("cannot find the server's own binary")]
    Exe(#[source] std::io::Error),
    #[error("cannot run {exe} {SUBCOMMAND}")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{SUBCOMMAND} exited with {0}")]
    Failed(std::process::ExitStatus),
    /// The module does not compile: not the child's failure, but the module's.
    #[error("module does not compile")]
    DoesNotCompile,
}

/// Why the child's side failed.
#[derive(Debug, thiserror::Error)]
pub enum ChildSideError {
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] LoadError),
    /// Stdin or stdout failed.
    #[error("cannot read the module or write the compiled artifact")]
    Io(#[source] std::io::Error),
    /// The module does not compile.
    #[error("module does not compile")]
    DoesNotCompile(#[source] wasmtime::Error),
}

impl ChildSideError {
    /// The status the child exits with: [`DOES_NOT_COMPILE`], or 1 for a failure of its own.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::DoesNotCompile(_) => DOES_NOT_COMPILE,
            Self::Engine(_) | Self::Io(_) => 1,
        }
    }
}

/// The engine settings a child needs to build the same engine, as its arguments.
/// `serve` sets the memory limit in whole MiB (`--policy-memory-mib`).
fn arguments(config: &RuntimeConfig) -> Vec<String> {
    let mut arguments = vec![
        SUBCOMMAND.to_owned(),
        "--max-concurrency".to_owned(),
        config.max_concurrency.to_string(),
        "--policy-memory-mib".to_owned(),
        (config.memory_limit >> 20).to_string(),
    ];
    if !config.pooling {
        arguments.push("--no-pooling".to_owned());
    }
    arguments
}

/// Compiles `wasm` in a child process of this binary; the artifact for `Module::deserialize`.
pub(crate) fn compile(config: &RuntimeConfig, wasm: &[u8]) -> Result<Vec<u8>, ChildError> {
    let exe = std::env::current_exe().map_err(ChildError::Exe)?;
    let spawn = |source| ChildError::Spawn {
        exe: exe.clone(),
        source,
    };
    let mut child = Command::new(&exe)
        .args(arguments(config))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(spawn)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // Written from a thread of its own: a child that stops reading must not block the read below.
    let artifact = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(wasm));
        let mut artifact = Vec::new();
        let read = stdout.read_to_end(&mut artifact);
        let written = writer.join().expect("the writer does not panic");
        read.and(written).map(|_| artifact)
    });
    let status = child.wait().map_err(spawn)?;
    if status.code() == Some(i32::from(DOES_NOT_COMPILE)) {
        return Err(ChildError::DoesNotCompile);
    }
    if !status.success() {
        return Err(ChildError::Failed(status));
    }
    artifact.map_err(spawn)
}

/// The child's side: the Wasm on stdin compiled for the engine these settings build, on stdout.
pub fn run_child(
    max_concurrency: usize,
    memory_limit: usize,
    pooling: bool,
) -> Result<(), ChildSideError> {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency,
        memory_limit,
        pooling,
        ..RuntimeConfig::default()
    })?;
    let mut wasm = Vec::new();
    std::io::stdin()
        .read_to_end(&mut wasm)
        .map_err(ChildSideError::Io)?;
    let artifact = runtime
        .engine()
        .precompile_module(&wasm)
        .map_err(ChildSideError::DoesNotCompile)?;
    std::io::stdout()
        .write_all(&artifact)
        .map_err(ChildSideError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_carry_every_setting_that_shapes_the_engine() {
        let config = RuntimeConfig {
            max_concurrency: 3,
            memory_limit: 64 << 20,
            pooling: false,
            ..RuntimeConfig::default()
        };
        assert_eq!(
            arguments(&config),
            [
                "compile-module",
                "--max-concurrency",
                "3",
                "--policy-memory-mib",
                "64",
                "--no-pooling"
            ]
        );
    }
}
