//! `pullthrough cert`: writes a CA and a serving certificate for the webhook Service to a
//! directory, and prints the base64 CA bundle a webhook configuration needs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certificates::{self as certs, Authority, Material};
use crate::cli::ServiceArgs;

/// Flags of `pullthrough cert`.
#[derive(Debug, Clone, clap::Args)]
pub struct CertArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Directory to write ca.crt, ca.key, tls.crt, tls.key and ca-bundle.b64 to (created if absent).
    #[arg(long, env = "PULLTHROUGH_CERT_OUT_DIR")]
    pub out_dir: PathBuf,
    /// Sign with this existing CA certificate (PEM) instead of generating a new CA.
    #[arg(long, requires = "ca_key", env = "PULLTHROUGH_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Private key (PEM) of --ca-cert.
    #[arg(long, requires = "ca_cert", env = "PULLTHROUGH_CA_KEY")]
    pub ca_key: Option<PathBuf>,
    /// Validity of the serving certificate, in days.
    #[arg(long, default_value_t = 365, env = "PULLTHROUGH_CERT_VALIDITY_DAYS")]
    pub validity_days: u64,
    /// Validity of a generated CA, in days.
    #[arg(long, default_value_t = 3650, env = "PULLTHROUGH_CA_VALIDITY_DAYS")]
    pub ca_validity_days: u64,
}

/// Why `pullthrough cert` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Certs(#[from] certs::Error),
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

pub fn days(days: u64) -> Duration {
    Duration::from_secs(days.saturating_mul(24 * 3600))
}

/// Generates (or signs with the given CA) and writes the files.
pub fn run(args: &CertArgs) -> Result<Written, Error> {
    let names = args.service.names();
    let validity = days(args.validity_days);
    let ca = match (&args.ca_cert, &args.ca_key) {
        (Some(cert), Some(key)) => Some(Authority {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        }),
        _ => None,
    };
    let generated_ca = ca.is_none();
    let material = match ca {
        Some(ca) => {
            let serving = ca.issue(&names, validity)?;
            Material { ca, serving }
        }
        None => Material::generate(&names, days(args.ca_validity_days), validity)?,
    };
    std::fs::create_dir_all(&args.out_dir).map_err(|source| Error::Write {
        path: args.out_dir.clone(),
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
    }
    let mut files = Vec::new();
    for (name, content, secret) in outputs {
        let path = args.out_dir.join(name);
        write(&path, content, secret)?;
        files.push(path);
    }
    Ok(Written {
        names,
        files,
        ca_bundle,
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes through a temporary file and a rename, so a server watching the directory never reads
/// a half-written file; keys are readable by the owner only.
fn write(path: &Path, content: &str, secret: bool) -> Result<(), Error> {
    let err = |source| Error::Write {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::CertInfo;

    fn args(dir: &Path) -> CertArgs {
        CertArgs {
            service: ServiceArgs {
                service: "hook".to_owned(),
                namespace: "infra".to_owned(),
                extra_sans: vec!["127.0.0.1".to_owned(), "hook".to_owned()],
            },
            out_dir: dir.to_owned(),
            ca_cert: None,
            ca_key: None,
            validity_days: 30,
            ca_validity_days: 3650,
        }
    }

    #[test]
    fn writes_every_file_with_the_names_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = run(&args(dir.path())).expect("run");
        assert_eq!(
            written.names,
            [
                "hook",
                "hook.infra",
                "hook.infra.svc",
                "hook.infra.svc.cluster.local",
                "127.0.0.1"
            ]
        );
        let info = CertInfo::from_pem(
            &std::fs::read_to_string(dir.path().join("tls.crt")).expect("tls.crt"),
        )
        .expect("parse");
        assert_eq!(info.names, written.names);
        let bundle = std::fs::read_to_string(dir.path().join("ca-bundle.b64")).expect("bundle");
        assert_eq!(bundle, written.ca_bundle);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["tls.key", "ca.key"] {
                let mode = std::fs::metadata(dir.path().join(key))
                    .expect("key")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }
    }

    #[test]
    fn an_existing_ca_signs_and_is_not_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        run(&args(dir.path())).expect("first");
        let second = tempfile::tempdir().expect("tempdir");
        let mut with_ca = args(second.path());
        with_ca.ca_cert = Some(dir.path().join("ca.crt"));
        with_ca.ca_key = Some(dir.path().join("ca.key"));
        let written = run(&with_ca).expect("second");
        assert!(!second.path().join("ca.key").exists());
        assert_eq!(
            std::fs::read_to_string(second.path().join("ca.crt")).expect("ca"),
            std::fs::read_to_string(dir.path().join("ca.crt")).expect("ca")
        );
        assert_eq!(written.files.len(), 4);
    }
}
