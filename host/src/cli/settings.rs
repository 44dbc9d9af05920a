//! Policy settings from `--settings-json` or `--settings-path` (a JSON or YAML file), as `run`
//! and `manifests --admission-policy` read them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why the settings flags give no settings mapping.
#[derive(Debug, thiserror::Error)]
pub enum SettingsArgsError {
    /// The settings file cannot be read.
    #[error("cannot read settings {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--settings-json` is not JSON.
    #[error("--settings-json is not JSON")]
    Json(#[source] serde_json::Error),
    /// The settings file is not JSON or YAML.
    #[error("settings {path} are not valid JSON or YAML")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The settings are JSON or YAML, but not a mapping.
    #[error(
        "{origin} must be a mapping such as {{\"mirror\": \"registry-mirror.example.com\"}}, got {got}"
    )]
    NotAMapping {
        /// `--settings-json` or the file.
        origin: String,
        /// What it is instead.
        got: &'static str,
    },
}

/// The settings `json` (inline) or the file at `path` hold, `None` when neither is given; an
/// empty file is an empty mapping.
pub fn read_settings(
    json: Option<&str>,
    path: Option<&Path>,
) -> Result<Option<Value>, SettingsArgsError> {
    let (settings, origin) = match (json, path) {
        (Some(json), _) => (
            serde_json::from_str(json).map_err(SettingsArgsError::Json)?,
            "--settings-json".to_owned(),
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SettingsArgsError::Read {
                path: path.to_owned(),
                source,
            })?;
            // YAML is a superset of JSON: one parser takes both.
            let settings =
                serde_yaml_ng::from_str(&text).map_err(|source| SettingsArgsError::Parse {
                    path: path.to_owned(),
                    source,
                })?;
            (settings, format!("settings {}", path.display()))
        }
        (None, None) => return Ok(None),
    };
    let got = match settings {
        Value::Null => return Ok(Some(Value::Object(Default::default()))),
        Value::Object(_) => return Ok(Some(settings)),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
    };
    Err(SettingsArgsError::NotAMapping { origin, got })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_yaml_and_nothing() {
        assert_eq!(
            read_settings(Some(r#"{"mirror": "m"}"#), None).expect("reads"),
            Some(json!({"mirror": "m"}))
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("settings.yml");
        std::fs::write(&file, "mirror: m\nlayout: prefixed\n").expect("write");
        assert_eq!(
            read_settings(None, Some(&file)).expect("reads"),
            Some(json!({"mirror": "m", "layout": "prefixed"}))
        );
        std::fs::write(&file, "").expect("write");
        assert_eq!(
            read_settings(None, Some(&file)).expect("reads"),
            Some(json!({}))
        );
        assert_eq!(read_settings(None, None).expect("reads"), None);
        let error = read_settings(Some("[1]"), None).expect_err("a list");
        assert_eq!(
            error.to_string(),
            r#"--settings-json must be a mapping such as {"mirror": "registry-mirror.example.com"}, got a list"#
        );
    }
}
