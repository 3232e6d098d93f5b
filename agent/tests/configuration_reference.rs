//! The configuration reference (`docs/configuration.md`) against the
//! binary: every flag of `rudder run --help` is documented with its
//! environment variable and default, and the reference documents no flag
//! the binary lacks.

use std::collections::BTreeMap;
use std::process::Command;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");

/// flag → (environment variable, default) as `--help` prints them.
fn from_help() -> BTreeMap<String, (String, String)> {
    let out = Command::new(RUDDER)
        .args(["run", "--help"])
        .output()
        .expect("rudder runs");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut flags = BTreeMap::new();
    for line in help.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("--") else {
            continue;
        };
        let flag = rest.split_whitespace().next().unwrap().to_string();
        if flag == "help" {
            continue;
        }
        let bracket = |key: &str| {
            line.split_once(&format!("[{key}: "))
                .and_then(|(_, tail)| tail.split_once(']'))
                .map(|(value, _)| value.trim_end_matches('=').to_string())
        };
        let env = bracket("env").unwrap_or_else(|| panic!("--{flag} has no environment variable"));
        let default = bracket("default").unwrap_or_else(|| "none".into());
        flags.insert(flag, (env, default));
    }
    flags
}

/// The same, read from the reference's table.
fn from_reference() -> BTreeMap<String, (String, String)> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    let mut flags = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let flag = cells[0]
            .trim()
            .trim_start_matches("`--")
            .split('`')
            .next()
            .unwrap()
            .to_string();
        let env = cells[1].trim().trim_matches('`').to_string();
        let default = cells[2].trim().trim_matches('`').to_string();
        flags.insert(flag, (env, default));
    }
    flags
}

#[test]
fn the_configuration_reference_matches_rudder_run_help() {
    let help = from_help();
    let reference = from_reference();
    assert!(
        help.len() > 20,
        "parsed too few flags from --help: {help:?}"
    );
    for (flag, documented) in &reference {
        assert_eq!(
            help.get(flag),
            Some(documented),
            "docs/configuration.md documents --{flag} as {documented:?}; `rudder run --help` says {:?}",
            help.get(flag)
        );
    }
    for flag in help.keys() {
        assert!(
            reference.contains_key(flag),
            "--{flag} is missing from docs/configuration.md"
        );
    }
    for (flag, (env, _)) in &help {
        assert!(
            env.starts_with("RUDDER_"),
            "--{flag} reads {env}, not a RUDDER_* variable"
        );
    }
}
