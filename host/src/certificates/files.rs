//! The files `pullthrough cert` writes: a CA and a serving certificate in PEM, written through a
//! rename so a server watching the directory never reads half a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Authority, Material};

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Certs(#[from] super::Error),
    #[error("cannot sign with the CA in {cert} and {key}")]
    Authority {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: super::Error,
    },
    #[error(
        "{path} already exists and holds {what}: pass --force to replace it (webhooks registered \
         with the old CA then need the new ca-bundle.b64){hint}"
    )]
    WouldReplaceCa {
        path: PathBuf,
        what: &'static str,
        hint: String,
    },
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `pullthrough cert` wrote.
#[derive(Debug)]
pub struct Written {
    pub names: Vec<String>,
    pub files: Vec<PathBuf>,
    pub ca_bundle: String,
}

/// What to write: a serving certificate for `names`, signed by a new CA or by `ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Names the serving certificate carries.
    pub names: Vec<String>,
    /// Directory to write to (created if absent).
    pub out_dir: PathBuf,
    /// PEM certificate and key files of an existing CA to sign with.
    pub ca: Option<(PathBuf, PathBuf)>,
    /// Validity of the serving certificate.
    pub validity: Duration,
    /// Validity of a generated CA.
    pub ca_validity: Duration,
    /// Replace a CA already in `out_dir` (or a key there that is not `ca`'s).
    pub replace_ca: bool,
}

/// Generates (or signs with the given CA) and writes ca.crt, tls.crt, tls.key, ca-bundle.b64
/// and, for a generated CA, ca.key.
pub fn write_files(issue: &Issue) -> Result<Written, WriteError> {
    let names = issue.names.clone();
    let validity = issue.validity;
    let ca = match &issue.ca {
        Some((cert, key)) => {
            let ca = Authority {
                cert_pem: read(cert)?,
                key_pem: read(key)?,
            };
            ca.check().map_err(|source| WriteError::Authority {
                cert: cert.clone(),
                key: key.clone(),
                source,
            })?;
            Some(ca)
        }
        _ => None,
    };
    if !issue.replace_ca {
        refuse_to_replace(&issue.out_dir, ca.as_ref())?;
    }
    let generated_ca = ca.is_none();
    let material = match ca {
        Some(ca) => {
            let serving = ca.issue(&names, validity)?;
            Material { ca, serving }
        }
        None => Material::generate(&names, issue.ca_validity, validity)?,
    };
    std::fs::create_dir_all(&issue.out_dir).map_err(|source| WriteError::Write {
        path: issue.out_dir.clone(),
        source,
    })?;
    let ca_bundle = material.ca.ca_bundle();
    let mut outputs = vec![
        ("ca.crt", material.ca.cert_pem.as_str(), false),
        ("tls.crt", material.serving.cert_pem.as_str(), false),
        ("tls.key", material.serving.key_pem.as_str(), true),
        ("ca-bundle.b64", ca_bundle.as_str(), false),
    ];
    if generated_ca {
        outputs.push(("ca.key", material.ca.key_pem.as_str(), true));
    } else {
        // --force with a given CA: a key left from another CA must not sit beside its ca.crt.
        let stale = issue.out_dir.join("ca.key");
        if std::fs::read_to_string(&stale).is_ok_and(|key| key != material.ca.key_pem) {
            std::fs::remove_file(&stale).map_err(|source| WriteError::Write {
                path: stale,
                source,
            })?;
        }
    }
    let mut files = Vec::new();
    for (name, content, secret) in outputs {
        let path = issue.out_dir.join(name);
        write(&path, content, secret)?;
        files.push(path);
    }
    Ok(Written {
        names,
        files,
        ca_bundle,
    })
}

/// A generated CA never silently replaces one in `dir`: its key is what every registered
/// `caBundle` trusts. Signing with the CA already there (or an identical copy) is fine.
fn refuse_to_replace(dir: &Path, ca: Option<&Authority>) -> Result<(), WriteError> {
    for (name, what) in [("ca.key", "a CA key"), ("ca.crt", "a CA certificate")] {
        let path = dir.join(name);
        let Ok(existing) = std::fs::read_to_string(&path) else {
            continue;
        };
        let same = ca.is_some_and(|ca| match name {
            "ca.key" => existing == ca.key_pem,
            _ => existing == ca.cert_pem,
        });
        if !same {
            let hint = match ca {
                None => format!(
                    ", or sign with it: --ca-cert {} --ca-key {}",
                    dir.join("ca.crt").display(),
                    dir.join("ca.key").display()
                ),
                Some(_) => ", or write to another --out-dir".to_owned(),
            };
            return Err(WriteError::WouldReplaceCa { path, what, hint });
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, WriteError> {
    std::fs::read_to_string(path).map_err(|source| WriteError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes through a temporary file and a rename, so a server watching the directory never reads
/// a half-written file; keys are readable by the owner only.
fn write(path: &Path, content: &str, secret: bool) -> Result<(), WriteError> {
    let err = |source| WriteError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).map_err(err)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    std::fs::rename(&tmp, path).map_err(err)
}
