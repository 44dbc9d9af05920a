//! Compiled-module cache: `Module::serialize` output on disk, keyed by the module's sha256 and the
//! engine's compatibility hash (wasmtime version and every setting that changes compiled code), so a restart skips Cranelift.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::LoadError;

/// Compiles `bytes`, going through the cache in `dir` when there is one. A cache that cannot be
/// read or written only costs a compilation; it never fails the load.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> Result<Module, LoadError> {
    let Some(dir) = dir else {
        return Module::new(engine, bytes).map_err(LoadError::Compile);
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
    let module = Module::new(engine, bytes).map_err(LoadError::Compile)?;
    if let Err(error) = store(&module, dir, &path) {
        tracing::warn!(%error, path = %path.display(), "cannot write the compiled-module cache");
    }
    Ok(module)
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

fn store(module: &Module, dir: &Path, path: &Path) -> std::io::Result<()> {
    let serialized = module.serialize().map_err(std::io::Error::other)?;
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
