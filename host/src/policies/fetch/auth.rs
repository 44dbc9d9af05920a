//! Registry credentials from a Docker config file, the content of a
//! `kubernetes.io/dockerconfigjson` pull secret: `{"auths": {"HOST": {"auth": BASE64}}}`, where
//! BASE64 encodes `user:password` (or `username` and `password` given apart). Keys may be
//! written as URLs (`https://index.docker.io/v1/`), as `docker login` does for Docker Hub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// Why the Docker config file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file cannot be read.
    #[error("cannot read Docker config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Docker config.
    #[error(
        "Docker config {path} is not JSON of the shape {{\"auths\": {{\"HOST\": {{\"auth\": \"…\"}}}}}}"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An entry's credentials cannot be read.
    #[error("Docker config {path}: auths.{host:?} {problem}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        host: String,
        /// What is wrong.
        problem: &'static str,
    },
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawEntry>,
}

// Docker writes more (`email`, `identitytoken`, `credsStore` beside `auths`): ignored, not refused.
#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The credentials of a Docker config file, by registry host.
#[derive(Debug, Clone, Default)]
pub(super) struct Auths {
    by_host: BTreeMap<String, Credentials>,
    /// The file, for messages.
    pub(super) path: Option<PathBuf>,
}

impl Auths {
    pub(super) fn read(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read(path).map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = serde_json::from_slice(&text).map_err(|source| AuthError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let mut by_host = BTreeMap::new();
        for (key, entry) in raw.auths {
            let problem = |problem| AuthError::Entry {
                path: path.to_owned(),
                host: key.clone(),
                problem,
            };
            let credentials = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => decode(&auth)
                    .ok_or_else(|| problem(".auth must be the base64 of user:password"))?,
                (_, Some(username), Some(password)) => Credentials { username, password },
                // An entry for a credential helper or an identity token: nothing we can use.
                _ => continue,
            };
            by_host.insert(host_of(&key), credentials);
        }
        Ok(Self {
            by_host,
            path: Some(path.to_owned()),
        })
    }

    /// The credentials for `registry` (`host[:port]`), Docker Hub's names taken as one.
    pub(super) fn get(&self, registry: &str) -> Option<&Credentials> {
        self.by_host.get(&host_of(registry))
    }
}

fn decode(auth: &str) -> Option<Credentials> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// `https://host:port/v1/` → `host:port`; Docker Hub's several names → `docker.io`.
fn host_of(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Auths, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).expect("write");
        Auths::read(&path).map_err(|error| {
            crate::report::one_line(&error).replace(&path.display().to_string(), "FILE")
        })
    }

    fn credentials(username: &str, password: &str) -> Option<Credentials> {
        Some(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    #[test]
    fn credentials_are_found_by_registry_host() {
        let auths = read(
            r#"{"auths": {
                "registry.example.com:5000": {"auth": "YWxpY2U6czNjcjN0OndpdGg6Y29sb25z"},
                "https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
                "helper.example.com": {"identitytoken": "t"}
            }, "credsStore": "desktop"}"#,
        )
        .expect("valid");
        assert_eq!(
            auths.get("registry.example.com:5000").cloned(),
            credentials("alice", "s3cr3t:with:colons")
        );
        assert_eq!(auths.get("docker.io").cloned(), credentials("bob", "pw"));
        assert_eq!(
            auths.get("index.docker.io").cloned(),
            credentials("bob", "pw")
        );
        assert_eq!(auths.get("registry.example.com").cloned(), None);
        assert_eq!(auths.get("helper.example.com").cloned(), None);
    }

    #[test]
    fn a_broken_file_or_entry_is_named() {
        assert_eq!(
            read(r#"{"auths": []}"#).err(),
            Some(
                "Docker config FILE is not JSON of the shape {\"auths\": {\"HOST\": {\"auth\": \
                 \"…\"}}}: invalid type: sequence, expected a map at line 1 column 10"
                    .to_owned()
            )
        );
        assert_eq!(
            read(r#"{"auths": {"r.example.com": {"auth": "bm9jb2xvbg=="}}}"#).err(),
            Some(
                "Docker config FILE: auths.\"r.example.com\" .auth must be the base64 of \
                 user:password"
                    .to_owned()
            )
        );
    }

    #[test]
    fn the_password_never_prints() {
        let text = format!("{:?}", credentials("alice", "s3cr3t"));
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
