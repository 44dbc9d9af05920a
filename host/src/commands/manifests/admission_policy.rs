//! `manifests --admission-policy`: the settings from the flags, read as the policy reads them,
//! and the generated MutatingAdmissionPolicy.

use pullthrough_policy::Settings;

use super::{Error, ManifestsArgs};
use crate::admission_policy::{self, Options};

/// What `manifests` prints: YAML on standard output, notes on standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub yaml: String,
    pub notes: Vec<String>,
}

/// The settings the flags give: `--settings-json` or `--settings-path`, else `--mirror` with
/// `--mirror-pull-secret` (as `serve --mirror` builds them).
fn settings(args: &ManifestsArgs) -> Result<Settings, Error> {
    let value = match crate::cli::read_settings(
        args.settings_json.as_deref(),
        args.settings_path.as_deref(),
    )? {
        Some(value) => value,
        None => crate::cli::embedded_settings(
            None,
            Some(args.mirror.as_deref().unwrap_or_default()),
            &args.pull_secrets.mirror_pull_secrets,
        )
        .unwrap_or_default(),
    };
    // The policy's own reader names a field that is wrong; given the flag's text, its position
    // is one in that text too. A JSON value always serialises.
    let json = match &args.settings_json {
        Some(text) => text.as_bytes().to_vec(),
        None => serde_json::to_vec(&value).unwrap_or_default(),
    };
    Ok(Settings::from_json(&json).map_err(admission_policy::Error::from)?)
}

pub(super) fn render(args: &ManifestsArgs) -> Result<Output, Error> {
    let settings = settings(args)?;
    let excluded_namespaces = match &args.exclude_namespaces {
        Some(namespaces) => namespaces.clone(),
        None => crate::k8s::DEFAULT_EXCLUDED_NAMESPACES
            .iter()
            .map(|ns| (*ns).to_owned())
            .collect(),
    };
    let yaml = admission_policy::render(
        &settings,
        &Options {
            failure_policy: args.failure_policy,
            excluded_namespaces,
        },
    )?;
    Ok(Output {
        yaml,
        notes: admission_policy::notes(&settings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ManifestsArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            manifests: ManifestsArgs,
        }
        <Cli as clap::Parser>::try_parse_from(
            std::iter::once("manifests").chain(args.iter().copied()),
        )
        .map(|cli| cli.manifests)
    }

    fn settings_of(args: &[&str]) -> Settings {
        settings(&parse(args).expect("parses")).expect("settings")
    }

    #[test]
    fn settings_come_from_json_a_file_or_the_mirror() {
        assert_eq!(
            settings_of(&[
                "--admission-policy",
                "--settings-json",
                r#"{"mirror": "m.example.com", "layout": "prefixed"}"#
            ]),
            Settings {
                mirror: "m.example.com".to_owned(),
                layout: pullthrough_policy::Layout::Prefixed,
                ..Settings::default()
            }
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("settings.yml");
        std::fs::write(
            &file,
            "mirror: m.example.com\nregistries: ['*']\nlayout: prefixed\n",
        )
        .expect("write");
        assert_eq!(
            settings_of(&[
                "--admission-policy",
                "--settings-path",
                file.to_str().expect("UTF-8")
            ]),
            Settings {
                mirror: "m.example.com".to_owned(),
                registries: Some(vec!["*".to_owned()]),
                layout: pullthrough_policy::Layout::Prefixed,
                ..Settings::default()
            }
        );
        assert_eq!(
            settings_of(&[
                "--admission-policy",
                "--mirror",
                "m.example.com",
                "--mirror-pull-secret",
                "creds"
            ]),
            Settings {
                mirror: "m.example.com".to_owned(),
                image_pull_secrets: vec!["creds".to_owned()],
                ..Settings::default()
            }
        );
    }

    #[test]
    fn settings_the_policy_refuses_are_named() {
        let cases = [
            (
                vec![
                    "--admission-policy",
                    "--settings-json",
                    r#"{"mirror": "m", "layout": "tree"}"#,
                ],
                "settings.layout: unknown variant `tree`, expected `flat` or `prefixed` at line 1 column 32",
            ),
            (
                vec![
                    "--admission-policy",
                    "--settings-json",
                    r#"{"mirror": "http://m"}"#,
                ],
                "settings.mirror must be host[:port] optionally followed by a path, got \"http://m\": leave out the scheme",
            ),
            (
                vec![
                    "--admission-policy",
                    "--settings-json",
                    r#"{"mirrors": ["a.example.com/c", "b.example.com"]}"#,
                ],
                "settings.mirrors names 2 mirrors, but an admission policy has no mirror check to \
                 choose among them and would always rewrite to a.example.com/c: give one mirror, \
                 or use the webhook (pullthrough serve), which switches to the next mirror when \
                 one is down",
            ),
            (
                vec!["--admission-policy", "--settings-json", "[]"],
                r#"--settings-json must be a mapping such as {"mirror": "registry-mirror.example.com"}, got a list"#,
            ),
        ];
        for (args, expected) in cases {
            let error = render(&parse(&args).expect("parses")).expect_err("refused");
            assert_eq!(crate::report::one_line(&error), expected, "{args:?}");
        }
    }

    #[test]
    fn flags_of_the_webhook_install_or_without_the_policy_are_refused() {
        for args in [
            vec!["--settings-json", "{}"],
            vec!["--admission-policy", "--policies", "p.yml"],
            vec!["--admission-policy", "--mirror", "m", "--replicas", "3"],
            vec!["--admission-policy", "--mirror", "m", "--namespace", "ops"],
            vec![
                "--admission-policy",
                "--settings-json",
                "{}",
                "--mirror-pull-secret",
                "s",
            ],
            vec!["--admission-policy"],
        ] {
            assert!(parse(&args).is_err(), "{args:?} parsed");
        }
    }

    #[test]
    fn prints_the_two_objects_and_the_notes() {
        let output = super::super::output(
            &parse(&["--admission-policy", "--mirror", "m.example.com"]).expect("parses"),
        )
        .expect("renders");
        assert_eq!(output.notes, admission_policy::NOTES);
        let kinds: Vec<String> = output
            .yaml
            .split("\n---\n")
            .skip(1)
            .map(|doc| {
                let doc: serde_json::Value = serde_yaml_ng::from_str(doc).expect("YAML");
                format!(
                    "{}/{}",
                    doc["kind"].as_str().unwrap_or(""),
                    doc["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "MutatingAdmissionPolicy/pullthrough",
                "MutatingAdmissionPolicyBinding/pullthrough"
            ]
        );
    }
}
