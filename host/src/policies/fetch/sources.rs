//! The sources file, in the shape of Kubewarden's `sources.yaml` (docs.kubewarden.io, "Reference
//! for sources.yaml"), so one file serves both:
//!
//! ```yaml
//! insecure_sources:              # reached over plain HTTP; nothing else is
//!   - registry-dev.example.com:5000
//! source_authorities:            # extra certificate authorities, by host[:port]
//!   registry.example.com:
//!     - type: Path
//!       path: /etc/pki/registry-ca.pem     # PEM, or DER
//!     - type: Data
//!       data: |
//!         -----BEGIN CERTIFICATE-----
//!         …
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Deserialize;

/// Why the sources file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The file cannot be read.
    #[error("cannot read sources file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML (or JSON) of the sources file's shape.
    #[error("sources file {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, naming the field.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// An entry is wrong; the message names it.
    #[error("sources file {path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSources {
    #[serde(default)]
    insecure_sources: Vec<String>,
    #[serde(default)]
    source_authorities: BTreeMap<String, Vec<RawAuthority>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    data: Option<String>,
}

/// One certificate authority, as the OCI client and reqwest take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Authority {
    Pem(Vec<u8>),
    Der(Vec<u8>),
}

/// The checked sources file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Sources {
    insecure: BTreeSet<String>,
    authorities: BTreeMap<String, Vec<Authority>>,
}

impl Sources {
    pub(super) fn read(path: &Path) -> Result<Self, SourcesError> {
        let text = std::fs::read_to_string(path).map_err(|source| SourcesError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawSources =
            serde_yaml_ng::from_str(&text).map_err(|source| SourcesError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let invalid = |problem: String| SourcesError::Invalid {
            path: path.to_owned(),
            problem,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut authorities = BTreeMap::new();
        for (host, entries) in raw.source_authorities {
            let mut certificates = Vec::new();
            for (i, entry) in entries.into_iter().enumerate() {
                let field = format!("source_authorities.{host:?}[{i}]");
                certificates.push(authority(entry, base, &field).map_err(invalid)?);
            }
            authorities.insert(host.to_ascii_lowercase(), certificates);
        }
        for host in &raw.insecure_sources {
            if host.is_empty() || host.contains('/') {
                return Err(invalid(format!(
                    "insecure_sources entries must be host or host:port, got {host:?}"
                )));
            }
        }
        Ok(Self {
            insecure: raw
                .insecure_sources
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
            authorities,
        })
    }

    /// Whether `authority` (`host[:port]`) is reached over plain HTTP.
    pub(super) fn is_insecure(&self, authority: &str) -> bool {
        self.insecure.contains(&authority.to_ascii_lowercase())
    }

    /// The hosts reached over plain HTTP.
    pub(super) fn insecure(&self) -> impl Iterator<Item = &String> {
        self.insecure.iter()
    }

    /// The extra certificate authorities of `authority`.
    pub(super) fn authorities(&self, authority: &str) -> &[Authority] {
        self.authorities
            .get(&authority.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

fn authority(entry: RawAuthority, base: &Path, field: &str) -> Result<Authority, String> {
    let bytes = match (entry.kind.as_deref(), entry.path, entry.data) {
        (None | Some("Path"), Some(path), None) => {
            let path = base.join(path);
            std::fs::read(&path)
                .map_err(|error| format!("{field}.path: cannot read {}: {error}", path.display()))?
        }
        (None | Some("Data"), None, Some(data)) => data.into_bytes(),
        (Some(kind), _, _) if kind != "Path" && kind != "Data" => {
            return Err(format!("{field}.type must be Path or Data, got {kind:?}"));
        }
        _ => {
            return Err(format!(
                "{field} must give one of path (type: Path) or data (type: Data)"
            ));
        }
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let count = CertificateDer::pem_slice_iter(&bytes)
            .map(|certificate| certificate.map(|_| ()))
            .collect::<Result<Vec<()>, _>>()
            .map_err(|error| format!("{field} is not a PEM certificate: {error}"))?
            .len();
        if count == 0 {
            return Err(format!("{field} holds no PEM certificate"));
        }
        Ok(Authority::Pem(bytes))
    } else if x509_parser::parse_x509_certificate(&bytes).is_ok() {
        Ok(Authority::Der(bytes))
    } else {
        Err(format!("{field} is neither a PEM nor a DER certificate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, text: &str) -> Result<Sources, String> {
        let path = dir.join("sources.yaml");
        std::fs::write(&path, text).expect("write");
        Sources::read(&path).map_err(|error| {
            crate::report::one_line(&error).replace(&dir.display().to_string(), "DIR")
        })
    }

    #[test]
    fn insecure_hosts_and_authorities_by_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()]).expect("ca");
        let pem = ca.cert.pem();
        std::fs::write(dir.path().join("ca.pem"), &pem).expect("write");
        std::fs::write(dir.path().join("ca.der"), ca.cert.der()).expect("write");
        let text = format!(
            "insecure_sources: [Dev.example.com:5000]\nsource_authorities:\n  r.example.com:\n    - \
             {{type: Path, path: ca.pem}}\n    - {{path: ca.der}}\n    - type: Data\n      data: \
             |\n{}",
            pem.lines()
                .map(|l| format!("        {l}\n"))
                .collect::<String>()
        );
        let sources = read(dir.path(), &text).expect("valid");
        assert!(sources.is_insecure("dev.example.com:5000"));
        assert!(!sources.is_insecure("dev.example.com"));
        assert_eq!(
            sources.authorities("R.example.com"),
            &[
                Authority::Pem(pem.clone().into_bytes()),
                Authority::Der(ca.cert.der().to_vec()),
                Authority::Pem(pem.into_bytes()),
            ]
        );
        assert_eq!(sources.authorities("other.example.com"), &[]);
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("junk.pem"), "not a certificate").expect("write");
        let cases = [
            (
                "insecure_source: [a]",
                "sources file DIR/sources.yaml: unknown field `insecure_source`, expected \
                 `insecure_sources` or `source_authorities`",
            ),
            (
                "insecure_sources: ['http://a.example.com']",
                "sources file DIR/sources.yaml: insecure_sources entries must be host or \
                 host:port, got \"http://a.example.com\"",
            ),
            (
                "source_authorities: {a.example.com: [{type: File, path: x}]}",
                "sources file DIR/sources.yaml: source_authorities.\"a.example.com\"[0].type \
                 must be Path or Data, got \"File\"",
            ),
            (
                "source_authorities: {a.example.com: [{path: x, data: y}]}",
                "sources file DIR/sources.yaml: source_authorities.\"a.example.com\"[0] must \
                 give one of path (type: Path) or data (type: Data)",
            ),
            (
                "source_authorities: {a.example.com: [{path: junk.pem}]}",
                "sources file DIR/sources.yaml: source_authorities.\"a.example.com\"[0] is \
                 neither a PEM nor a DER certificate",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                read(dir.path(), text).err().as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }
}
