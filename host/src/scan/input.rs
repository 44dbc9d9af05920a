//! Objects from manifests: JSON or multi-document YAML files, directories of them, or standard
//! input, with `List` documents (`kubectl get -A -o json`) opened into their items.
//!
//! A list's items are handed on one by one while the document is parsed, so a list of 10,000
//! objects is never held as one tree: memory stays near the size of the file.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

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

/// One document: an object goes to the sink whole; a list (any object with an `items` array,
/// like `List` or `DeploymentList`) sends its items as they are parsed, and what else it holds
/// (`metadata.continue` of an API page) is returned. Empty documents are skipped; anything
/// else that is not an object is an error.
pub(crate) struct Document<'s> {
    pub(crate) sink: &'s mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    /// The fields of a list other than its items; `None` for a single object.
    type Value = Option<Map<String, Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object, a list of objects, or an array of objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            (self.sink)(item);
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        let mut was_list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                let item_kind = list_item_kind(&fields);
                let items = Items {
                    sink: &mut *self.sink,
                    item_kind,
                };
                if let Some(other) = map.next_value_seed(items)? {
                    fields.insert(key, other);
                } else {
                    was_list = true;
                }
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        if was_list {
            Ok(Some(fields))
        } else {
            (self.sink)(Value::Object(fields));
            Ok(None)
        }
    }
}

/// `Deployment` for a `DeploymentList` seen before its items (the API server writes `kind`
/// first); items of such a list carry no `kind` of their own.
fn list_item_kind(fields: &Map<String, Value>) -> Option<(String, Option<String>)> {
    let kind = fields.get("kind")?.as_str()?.strip_suffix("List")?;
    if kind.is_empty() {
        return None;
    }
    let api_version = fields
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((kind.to_owned(), api_version))
}

/// The value of a document's `items`: an array is streamed to the sink (`None` comes back);
/// anything else is returned as it is, an ordinary field.
struct Items<'s> {
    sink: &'s mut dyn FnMut(Value),
    item_kind: Option<(String, Option<String>)>,
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(mut item) = seq.next_element::<Value>()? {
            if let (Some((kind, api_version)), Value::Object(fields)) = (&self.item_kind, &mut item)
            {
                fields
                    .entry("kind")
                    .or_insert_with(|| Value::String(kind.clone()));
                if let Some(api_version) = api_version {
                    fields
                        .entry("apiVersion")
                        .or_insert_with(|| Value::String(api_version.clone()));
                }
            }
            (self.sink)(item);
        }
        Ok(None)
    }

    // Not a list after all: keep the value as the field it is.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(value))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn objects(text: &str) -> Result<Vec<Value>, InputError> {
        let mut out = Vec::new();
        objects_in(text.as_bytes(), "test.yaml", &mut |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn yaml_documents_lists_and_json_streams_become_objects() {
        let cases: [(&str, &str, Vec<Value>); 7] = [
            (
                "multi-document YAML with an empty document and comments",
                "# head\n---\nkind: Pod\nmetadata: {name: a}\n---\n---\nkind: Deployment\nmetadata: {name: b}\n",
                vec![
                    json!({"kind": "Pod", "metadata": {"name": "a"}}),
                    json!({"kind": "Deployment", "metadata": {"name": "b"}}),
                ],
            ),
            (
                "a kubectl List: items keep their own kind",
                r#"{"apiVersion": "v1", "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}}, {"kind": "Job", "apiVersion": "batch/v1"}], "kind": "List", "metadata": {"resourceVersion": ""}}"#,
                vec![
                    json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}}),
                    json!({"kind": "Job", "apiVersion": "batch/v1"}),
                ],
            ),
            (
                "an API page: items get the list's kind and apiVersion",
                r#"{"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"continue": "x"}, "items": [{"metadata": {"name": "a"}}]}"#,
                vec![
                    json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "a"}}),
                ],
            ),
            (
                "concatenated JSON documents",
                "{\"kind\": \"Pod\"}\n{\"kind\": \"Job\"}\n",
                vec![json!({"kind": "Pod"}), json!({"kind": "Job"})],
            ),
            (
                "a JSON array",
                r#"[{"kind": "Pod"}, {"kind": "CronJob"}]"#,
                vec![json!({"kind": "Pod"}), json!({"kind": "CronJob"})],
            ),
            (
                "a YAML List",
                "kind: List\nitems:\n- kind: Pod\n- kind: DaemonSet\n",
                vec![json!({"kind": "Pod"}), json!({"kind": "DaemonSet"})],
            ),
            (
                "an object whose items field is not an array is an object",
                "kind: ConfigMap\nitems: {a: 1}\n",
                vec![json!({"kind": "ConfigMap", "items": {"a": 1}})],
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(objects(text).expect(name), expected, "{name}");
        }
        assert_eq!(objects("  \n").expect("blank"), Vec::<Value>::new());
    }

    #[test]
    fn a_directory_is_read_with_its_subdirectories_as_kubectl_r_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for (path, text) in [
            ("b.yaml", "kind: Pod\nmetadata: {name: top}\n"),
            (
                "apps/web/deploy.yml",
                "kind: Deployment\nmetadata: {name: web}\n",
            ),
            (
                "apps/api.json",
                r#"{"kind": "Job", "metadata": {"name": "api"}}"#,
            ),
            ("apps/web/README.md", "kind: Pod\n"),
            (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
        ] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("directories");
            std::fs::write(file, text).expect("write");
        }
        // A link back up the tree is not followed: no loop, no file twice.
        std::os::unix::fs::symlink(root, root.join("apps/loop")).expect("link");
        let mut names = Vec::new();
        read_paths(&[root.to_path_buf()], &mut |object| {
            names.push(
                object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        })
        .expect("reads");
        assert_eq!(names, ["api", "web", "top"]);
    }

    #[test]
    fn bad_documents_name_the_input_and_the_document() {
        let cases = [
            (
                "{\"kind\": \"Pod\"}\n{\"kind\": ",
                "test.yaml: document 2 is not valid JSON",
                "EOF while parsing a value at line 2 column 9",
            ),
            (
                "kind: Pod\n---\nkind: [\n",
                "test.yaml: document 2 is not valid YAML",
                "",
            ),
            (
                "kind: Pod\n---\n42\n",
                "test.yaml: document 2 is not valid YAML",
                "invalid type: integer `42`, expected a Kubernetes object, a list of objects, or an array of objects",
            ),
        ];
        for (text, message, cause) in cases {
            let error = objects(text).expect_err(text);
            assert_eq!(error.to_string(), message);
            let source = std::error::Error::source(&error)
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(source.starts_with(cause), "{text:?}: {source}");
        }
    }
}
