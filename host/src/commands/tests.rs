//! One vocabulary across commands, read from clap itself so a flag added later is held to the
//! same rules: its variable, its switch values, its units, its usage line.

use std::ffi::OsStr;

use clap::{Arg, ArgAction, CommandFactory as _};

use super::{Cli, Command};
use clap::Parser as _;

/// Every flag of every subcommand (globals included), with the subcommand's name.
fn flags() -> Vec<(String, Arg)> {
    let mut cli = Cli::command();
    cli.build();
    let mut flags = Vec::new();
    for command in cli.get_subcommands() {
        if command.get_name() == "help" {
            continue;
        }
        for arg in command.get_arguments() {
            let clap_own = matches!(arg.get_id().as_str(), "help" | "version");
            if !arg.is_positional() && !clap_own {
                flags.push((command.get_name().to_owned(), arg.clone()));
            }
        }
    }
    flags
}

fn long(arg: &Arg) -> &str {
    arg.get_long()
        .unwrap_or_else(|| panic!("{} has no long name", arg.get_id()))
}

fn is_switch(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
}

#[test]
fn every_flag_reads_pullthrough_and_its_own_name() {
    let flags = flags();
    assert!(flags.len() > 40, "only {} flags found", flags.len());
    for (command, arg) in &flags {
        let long = long(arg);
        let expected = format!(
            "PULLTHROUGH_{}",
            long.to_ascii_uppercase().replace('-', "_")
        );
        assert_eq!(
            arg.get_env(),
            Some(OsStr::new(&expected)),
            "`pullthrough {command} --{long}` must read {expected}"
        );
    }
}

#[test]
fn a_flag_name_means_the_same_in_every_command() {
    let flags = flags();
    for (command, arg) in &flags {
        for (other_command, other) in &flags {
            if long(arg) != long(other) {
                continue;
            }
            assert_eq!(
                (is_switch(arg), arg.get_value_names()),
                (is_switch(other), other.get_value_names()),
                "--{} of `{command}` and of `{other_command}` take different values",
                long(arg)
            );
        }
    }
}

#[test]
fn units_are_in_the_name_and_the_value_name() {
    let units = [
        ("-ms", "MS"),
        ("-seconds", "SECONDS"),
        ("-days", "DAYS"),
        ("-mib", "MIB"),
    ];
    for (command, arg) in flags() {
        let long = long(&arg);
        let value_names: Vec<_> = arg
            .get_value_names()
            .unwrap_or_default()
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect();
        for (suffix, value_name) in units {
            assert_eq!(
                long.ends_with(suffix),
                value_names == [value_name],
                "`{command} --{long}` <{value_names:?}>: a value in {value_name} is named \
                 --…{suffix} <{value_name}>"
            );
        }
        // One word per idea: a budget of one evaluation is the policy's, wherever it is set.
        assert!(
            !matches!(long, "timeout-ms" | "validity-days" | "extra-sans"),
            "`{command} --{long}` is an old synonym"
        );
    }
}

#[test]
fn placeholders_name_the_kind_of_value_in_one_vocabulary() {
    // clap's default placeholder is the field's name (`--guest-slots <GUEST_SLOTS>`); one word
    // per kind of value reads the same in every command's help.
    let vocabulary = [
        "ADDRESS",
        "DAYS",
        "DIR",
        "FILE",
        "FILTER",
        "FORMAT",
        "IMAGE",
        "JSON",
        "KEY=VALUE",
        "MIB",
        "MIRROR",
        "MS",
        "N",
        "NAME",
        "NAMESPACE",
        "PATH",
        "POLICY",
        "PORT",
        "PREFIX",
        "SECONDS",
        "URL",
    ];
    for (command, arg) in flags() {
        if is_switch(&arg) {
            continue;
        }
        for name in arg.get_value_names().unwrap_or_default() {
            assert!(
                vocabulary.contains(&name.as_str()),
                "`{command} --{}` <{name}>: name its value with one of {vocabulary:?}",
                long(&arg)
            );
        }
    }
}

#[test]
fn every_switch_accepts_what_people_write_in_an_environment() {
    for (command, arg) in flags().into_iter().filter(|(_, arg)| is_switch(arg)) {
        let id = arg.get_id().as_str().to_owned();
        // The value a switch's variable holds goes through the switch's value parser; give the
        // parser each spelling directly, without touching this process's environment.
        // Built switches may carry `num_args(0)`: the probe takes exactly the one value.
        let probe = arg
            .clone()
            .action(ArgAction::Set)
            .num_args(1)
            .env(None::<&str>);
        for (text, expected) in [
            ("true", true),
            ("yes", true),
            ("1", true),
            ("on", true),
            ("false", false),
            ("no", false),
            ("0", false),
            ("off", false),
        ] {
            let matches = clap::Command::new("probe")
                .arg(probe.clone())
                .try_get_matches_from(["probe", &format!("--{}", long(&arg)), text])
                .unwrap_or_else(|e| panic!("`{command} --{}` refuses {text:?}: {e}", long(&arg)));
            assert_eq!(
                matches.get_one::<bool>(&id).copied(),
                Some(expected),
                "`{command} --{}` = {text:?}",
                long(&arg)
            );
        }
    }
}

#[test]
fn usage_lines_show_what_is_required() {
    let mut cli = Cli::command();
    cli.build();
    let mut usage = |name: &str| {
        cli.find_subcommand_mut(name)
            .expect("subcommand")
            .render_usage()
            .to_string()
    };
    assert_eq!(
        usage("run"),
        "Usage: pullthrough run [OPTIONS] --request-path <FILE> <MODULE>"
    );
    assert_eq!(
        usage("serve"),
        "Usage: pullthrough serve [OPTIONS] <--mirror <MIRROR>|--settings-json <JSON>|--policies <FILE>>"
    );
    assert_eq!(
        usage("cert"),
        "Usage: pullthrough cert [OPTIONS] --out-dir <DIR>"
    );
    assert_eq!(
        usage("register"),
        "Usage: pullthrough register [OPTIONS] --ca-file <FILE>"
    );
    assert_eq!(
        usage("unregister"),
        "Usage: pullthrough unregister [OPTIONS]"
    );
    assert_eq!(
        usage("manifests"),
        "Usage: pullthrough manifests [OPTIONS] <--mirror <MIRROR>|--policies <FILE>|--settings-json <JSON>|--settings-path <FILE>>"
    );
}

#[test]
fn flags_are_listed_only_where_they_mean_something() {
    let listed = |command: &str, flag: &str| {
        flags()
            .iter()
            .any(|(c, arg)| c == command && long(arg) == flag && !arg.is_hide_set())
    };
    // `register` issues no certificate.
    assert!(listed("cert", "extra-san") && listed("serve", "extra-san"));
    assert!(!listed("register", "extra-san"));
}

#[test]
fn values_that_cannot_work_are_refused_by_the_parser() {
    use clap::Parser as _;
    let cases: [(&[&str], &str); 8] = [
        (
            &["cert", "--out-dir", "d", "--extra-san", "bad name!"],
            "error: invalid value 'bad name!' for '--extra-san <NAME>': must be a DNS name \
             (letters, digits, '-' and '.', optionally starting with '*.') or an IP address",
        ),
        (
            &["cert", "--out-dir", "d", "--cert-validity-days", "0"],
            "error: invalid value '0' for '--cert-validity-days <DAYS>': must be a whole number \
             of days from 1 to 36500",
        ),
        (
            &["cert", "--out-dir", "d", "--validity-days", "0"],
            "error: invalid value '0' for '--cert-validity-days <DAYS>': must be a whole number \
             of days from 1 to 36500",
        ),
        (
            &["serve", "--mirror", "m.io", "--cert-validity-days", "0"],
            "error: invalid value '0' for '--cert-validity-days <DAYS>': must be a whole number \
             of days from 1 to 36500",
        ),
        (
            &["run", "-r", "-", "m.wasm", "--timeout-ms", "0"],
            "error: invalid value '0' for '--policy-timeout-ms <MS>': must be at least 1",
        ),
        (
            &["register", "--ca-file", "c", "--only-namespaces", "a,,b"],
            "error: invalid value '' for '--only-namespaces <NAMESPACE>': must not be empty",
        ),
        (
            &["register", "--ca-file", "c", "--only-namespaces", "Team_A"],
            "error: invalid value 'Team_A' for '--only-namespaces <NAMESPACE>': must be \
             lowercase letters, digits and '-', starting and ending with a letter or digit, at \
             most 63 characters",
        ),
        (
            &["manifests", "--mirror", "m.io", "--replicas", "0"],
            "error: invalid value '0' for '--replicas <N>': must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let error = Cli::try_parse_from(std::iter::once("pullthrough").chain(args.iter().copied()))
            .expect_err("refused");
        assert_eq!(error.exit_code(), 2, "{args:?}");
        let text = error.to_string();
        assert_eq!(text.lines().next(), Some(expected), "{args:?}: {text}");
    }
}

#[test]
fn the_compile_module_child_parses_what_serve_passes_it() {
    let cli = Cli::try_parse_from([
        "pullthrough",
        crate::wasm::COMPILE_MODULE_SUBCOMMAND,
        "--max-concurrency",
        "2",
        "--policy-memory-mib",
        "128",
        "--no-pooling",
    ])
    .expect("parses");
    let Command::CompileModule(args) = cli.command else {
        panic!("not compile-module: {:?}", cli.command);
    };
    assert_eq!(
        (
            args.max_concurrency,
            args.policy_memory_mib,
            args.no_pooling
        ),
        (2, 128, true)
    );
}
