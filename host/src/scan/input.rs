//! Objects from manifests: JSON or multi-document YAML files, directories of them, or standard
//! input, with `List` documents (`kubectl get -A -o json`) opened into their items.
//!
//! A list's items are handed on one by one while the document is parsed, so a list of 10,000
//! objects is never held as one tree: memory stays near the size of the file.
//!
//! - here: the paths, the files below a directory, and the documents of one input.
//! - `document`: one document, streamed to the sink.

mod document;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeSeed as _;
use serde_json::Value;

pub(crate) use document::Document;

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file, directory or standard input cannot be read.
    #[error("cannot read {origin}")]
    Read {
        /// The path, or `standard input`.
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid JSON.
    #[error("{origin}: document {document} is not valid JSON")]
    Json {
        origin: String,
        /// 1-based position of the document in the file.
        document: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A document is not valid YAML.
    #[error("{origin}: document {document} is not valid YAML")]
    Yaml {
        origin: String,
        /// 1-based position of the document in the file.
        document: usize,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

/// Reads every path in turn (`-` is standard input; a directory contributes the `.json`, `.yaml`
/// and `.yml` files below it, subdirectories included, in path order) and hands each object to
/// `sink`.
pub fn read_paths(paths: &[PathBuf], sink: &mut dyn FnMut(Value)) -> Result<(), InputError> {
    for path in paths {
        if path == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| InputError::Read {
                    origin: "standard input".to_owned(),
                    source,
                })?;
            objects_in(&bytes, "standard input", sink)?;
        } else if path.is_dir() {
            for file in manifest_files(path)? {
                read_file(&file, sink)?;
            }
        } else {
            read_file(path, sink)?;
        }
    }
    Ok(())
}

fn read_file(path: &Path, sink: &mut dyn FnMut(Value)) -> Result<(), InputError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        origin: origin.clone(),
        source,
    })?;
    objects_in(&bytes, &origin, sink)
}

/// The `.json`, `.yaml` and `.yml` files below `dir`, in its subdirectories too (as `kubectl
/// -R` reads them), sorted by path. Unlike `kubectl`, hidden subdirectories (`.git`, `.github`
/// with its workflow YAML) are skipped. A symbolic link to a file counts; one to a directory is
/// not followed (as `kubectl`'s walk does not), so a link loop cannot recurse forever.
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let read_error = |source| InputError::Read {
            origin: dir.display().to_string(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let path = entry.path();
            if entry.file_type().map_err(read_error)?.is_dir() {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    pending.push(path);
                }
                continue;
            }
            let manifest = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "json" | "yaml" | "yml"));
            if manifest && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Every object in `bytes`: JSON (one or more documents, or an array) when it starts with `{`
/// or `[`, else YAML documents separated by `---`. `origin` names the input in errors.
pub fn objects_in(
    bytes: &[u8],
    origin: &str,
    sink: &mut dyn FnMut(Value),
) -> Result<(), InputError> {
    let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Ok(());
    };
    if matches!(first, b'{' | b'[') {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut document = 1;
        loop {
            let json_error = |source| InputError::Json {
                origin: origin.to_owned(),
                document,
                source,
            };
            Document { sink: &mut *sink }
                .deserialize(&mut de)
                .map_err(json_error)?;
            // `end` only skips whitespace: on anything else it fails and the next document
            // starts there.
            if de.end().is_ok() {
                return Ok(());
            }
            document += 1;
        }
    }
    for (index, yaml) in serde_yaml_ng::Deserializer::from_slice(bytes).enumerate() {
        Document { sink: &mut *sink }
            .deserialize(yaml)
            .map_err(|source| InputError::Yaml {
                origin: origin.to_owned(),
                document: index + 1,
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
