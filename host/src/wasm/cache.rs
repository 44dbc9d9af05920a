//! Compiled-module cache: `Module::serialize` output on disk, keyed by the module's sha256 and the
//! engine's compatibility hash (wasmtime version and every setting that changes compiled code), so a restart skips Cranelift.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::{LoadError, RuntimeConfig, compile_child};

/// Compiles `bytes`, going through the cache in `config.cache_dir` when there is one, and in a
/// child process when `config.compile_in_child` says so. A cache that cannot be read or written
/// only costs a compilation; it never fails the load.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    config: &RuntimeConfig,
) -> Result<Module, LoadError> {
    // wasmparser's own error for this prints both magic numbers as multi-line hex arrays.
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    let Some(dir) = config.cache_dir.as_deref() else {
        return compile_now(engine, bytes, config).map(|(module, _)| module);
    };
    let path = entry_path(engine, bytes, dir);
    if path.is_file() {
        // SAFETY: the file was written by `Module::serialize` of this same wasmtime version and
        // engine configuration (both are in its name) into a directory the operator gave us for
        // this purpose; wasmtime re-checks the header and refuses a mismatched artifact.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(module) => return Ok(module),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "ignoring unusable compiled-module cache entry");
            }
        }
    }
    let (module, artifact) = compile_now(engine, bytes, config)?;
    if let Err(error) = store(&module, artifact, dir, &path) {
        tracing::warn!(%error, path = %path.display(), "cannot write the compiled-module cache");
    }
    Ok(module)
}

/// Compiles with Cranelift, in a child process when the configuration asks for one (with the
/// artifact it wrote), else here; either way the freed memory goes back to the kernel after.
fn compile_now(
    engine: &Engine,
    bytes: &[u8],
    config: &RuntimeConfig,
) -> Result<(Module, Option<Vec<u8>>), LoadError> {
    if config.compile_in_child {
        let started = std::time::Instant::now();
        match compile_child::compile(config, bytes) {
            // SAFETY: the artifact is `Engine::precompile_module`'s output of this same binary,
            // read from the pipe of the child that wrote it; wasmtime checks its header against
            // this engine's version and settings and refuses a mismatch.
            Ok(artifact) => match unsafe { Module::deserialize(engine, &artifact) } {
                Ok(module) => {
                    tracing::info!(
                        wasm_bytes = bytes.len(),
                        compiled_bytes = artifact.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "compiled the module in a child process"
                    );
                    crate::allocator::release_free_pages();
                    return Ok((module, Some(artifact)));
                }
                Err(error) => {
                    tracing::warn!(%error, "the child's compiled module does not load; compiling here");
                }
            },
            // Compiled here too, for the error that says why, as without a child.
            Err(compile_child::ChildError::DoesNotCompile) => {}
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "cannot compile in a child process; compiling here"
                );
            }
        }
    }
    let module = Module::new(engine, bytes).map_err(LoadError::Compile);
    crate::allocator::release_free_pages();
    Ok((module?, None))
}

fn entry_path(engine: &Engine, bytes: &[u8], dir: &Path) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    let mut config = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut config);
    let digest = hex(&hasher.finalize());
    let config = std::hash::Hasher::finish(&config);
    dir.join(format!("{digest}-{config:016x}.cwasm"))
}

fn store(
    module: &Module,
    artifact: Option<Vec<u8>>,
    dir: &Path,
    path: &Path,
) -> std::io::Result<()> {
    let serialized = match artifact {
        Some(artifact) => artifact,
        None => module.serialize().map_err(std::io::Error::other)?,
    };
    std::fs::create_dir_all(dir)?;
    // Write then rename, so a concurrent start never maps a half-written file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, path)
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Hex sha256 of a module's bytes: its identity in statuses and logs.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_bytes() -> Vec<u8> {
        wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#)
            .expect("valid wat")
    }

    fn cached_in(dir: &Path) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: Some(dir.to_owned()),
            ..RuntimeConfig::default()
        }
    }

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, module, &[]).expect("instantiates");
        let answer = instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .expect("export");
        answer.call(&mut store, ()).expect("runs")
    }

    #[test]
    fn a_compiled_module_is_stored_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Engine::default();
        let bytes = module_bytes();
        let module = compile(&engine, &bytes, &cached_in(dir.path())).expect("compiles");
        assert_eq!(answer(&engine, &module), 42);
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(entries, vec![entry_path(&engine, &bytes, dir.path())]);
        let name = entries[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&sha256_hex(&bytes)), "{name}");

        let cached = compile(&engine, &bytes, &cached_in(dir.path())).expect("loads from cache");
        assert_eq!(answer(&engine, &cached), 42);
    }

    #[test]
    fn a_corrupt_cache_entry_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Engine::default();
        let bytes = module_bytes();
        let path = entry_path(&engine, &bytes, dir.path());
        std::fs::write(&path, b"not a compiled module").expect("write");
        let module = compile(&engine, &bytes, &cached_in(dir.path())).expect("recompiles");
        assert_eq!(answer(&engine, &module), 42);
        assert_ne!(
            std::fs::read(&path).expect("entry"),
            b"not a compiled module"
        );
    }

    #[test]
    fn an_unwritable_cache_only_costs_a_compilation() {
        let engine = Engine::default();
        let module = compile(
            &engine,
            &module_bytes(),
            &cached_in(Path::new("/proc/no-such-dir")),
        )
        .expect("compiles anyway");
        assert_eq!(answer(&engine, &module), 42);
    }

    #[test]
    fn hex_is_lower_case_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
    }
}
