//! `pullthrough cert`: writes a CA and a serving certificate for the webhook Service to a
//! directory, and prints the base64 CA bundle a webhook configuration needs.

use std::path::PathBuf;

use crate::certificates::{self, Issue, WriteError, Written};
use crate::cli::{CertValidityArgs, SanArgs, ServiceArgs, values};

/// Flags of `pullthrough cert`.
#[derive(Debug, Clone, clap::Args)]
// `cert` writes the certificate once, so it says less than `serve` (which renews it); help text
// is clap's summary, without the final period.
#[command(mut_arg("cert_validity_days", |arg| arg
    .help("Validity of the serving certificate, in days")
    .alias("validity-days")))]
pub struct CertArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub sans: SanArgs,
    /// Directory to write ca.crt, ca.key, tls.crt, tls.key and ca-bundle.b64 to (created if absent).
    #[arg(long, value_name = "DIR", env = "PULLTHROUGH_OUT_DIR")]
    pub out_dir: PathBuf,
    /// Sign with this existing CA certificate (PEM) instead of generating a new CA.
    #[arg(
        long,
        value_name = "FILE",
        requires = "ca_key",
        env = "PULLTHROUGH_CA_CERT"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Private key (PEM) of --ca-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "ca_cert",
        env = "PULLTHROUGH_CA_KEY"
    )]
    pub ca_key: Option<PathBuf>,
    /// Replace a CA already in --out-dir (every webhook registered with the old one then needs
    /// the new ca-bundle.b64).
    #[arg(long, value_parser = values::boolish(), env = "PULLTHROUGH_FORCE")]
    pub force: bool,
    #[command(flatten)]
    pub validity: CertValidityArgs,
    /// Validity of a generated CA, in days.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = certificates::DEFAULT_CA_VALIDITY_DAYS,
        value_parser = values::days,
        conflicts_with = "ca_cert",
        env = "PULLTHROUGH_CA_VALIDITY_DAYS"
    )]
    pub ca_validity_days: u64,
}

impl CertArgs {
    /// What these flags ask to write.
    pub fn issue(&self) -> Issue {
        Issue {
            names: self.sans.names(&self.service),
            out_dir: self.out_dir.clone(),
            ca: self.ca_cert.clone().zip(self.ca_key.clone()),
            validity: self.validity.validity(),
            ca_validity: certificates::days(self.ca_validity_days),
            replace_ca: self.force,
        }
    }
}

/// Generates (or signs with the given CA) and writes the files.
pub fn run(args: &CertArgs) -> Result<Written, WriteError> {
    certificates::write_files(&args.issue())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::certificates::CertInfo;

    fn args(dir: &Path) -> CertArgs {
        CertArgs {
            service: ServiceArgs {
                service: "hook".to_owned(),
                namespace: "infra".to_owned(),
            },
            sans: SanArgs {
                extra_sans: vec!["127.0.0.1".to_owned(), "hook".to_owned()],
            },
            out_dir: dir.to_owned(),
            ca_cert: None,
            ca_key: None,
            force: false,
            validity: CertValidityArgs {
                cert_validity_days: 30,
            },
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

    fn refusal(args: &CertArgs) -> String {
        crate::report::one_line(&run(args).expect_err("refused"))
    }

    #[test]
    fn a_key_that_is_not_the_cas_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        run(&args(dir.path())).expect("first");
        let out = tempfile::tempdir().expect("tempdir");
        let mut with_ca = args(out.path());
        with_ca.ca_cert = Some(dir.path().join("ca.crt"));
        with_ca.ca_key = Some(dir.path().join("tls.key"));
        assert_eq!(
            refusal(&with_ca),
            format!(
                "cannot sign with the CA in {0}/ca.crt and {0}/tls.key: the private key does not \
                 belong to the certificate",
                dir.path().display()
            )
        );
        // A serving certificate with its own key is not a CA either.
        with_ca.ca_cert = Some(dir.path().join("tls.crt"));
        assert_eq!(
            refusal(&with_ca),
            format!(
                "cannot sign with the CA in {0}/tls.crt and {0}/tls.key: the certificate is not \
                 a CA certificate (its basicConstraints do not say CA:TRUE)",
                dir.path().display()
            )
        );
        assert!(std::fs::read_dir(out.path()).expect("out").next().is_none());
    }

    #[test]
    fn an_existing_ca_is_replaced_only_with_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        run(&args(dir.path())).expect("first");
        let key = std::fs::read_to_string(dir.path().join("ca.key")).expect("key");
        let d = dir.path().display();
        assert_eq!(
            refusal(&args(dir.path())),
            format!(
                "{d}/ca.key already exists and holds a CA key: pass --force to replace it \
                 (webhooks registered with the old CA then need the new ca-bundle.b64), or sign \
                 with it: --ca-cert {d}/ca.crt --ca-key {d}/ca.key"
            )
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ca.key")).expect("key"),
            key
        );
        // Signing with the CA that is there is what the hint says, and works.
        let mut with_ca = args(dir.path());
        with_ca.ca_cert = Some(dir.path().join("ca.crt"));
        with_ca.ca_key = Some(dir.path().join("ca.key"));
        run(&with_ca).expect("signs with the CA in place");
        let mut forced = args(dir.path());
        forced.force = true;
        run(&forced).expect("forced");
        assert_ne!(
            std::fs::read_to_string(dir.path().join("ca.key")).expect("key"),
            key
        );
    }
}
