//! What `rudder run` is asked to do: its command line (every option also
//! from a `RUDDER_*` environment variable, so a Deployment can set them),
//! the apps file (`--apps`), path templates (`{region}`, `{cluster}`) and
//! the variables each app's render gets. Pure: values in, values out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::cluster_args::{DEFAULT_PARENT_NAMESPACE, dns_label, parse_duration};
use crate::vars_from::VarsSource;

/// Arguments of `rudder run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Git repository to follow: git://, http(s)://, ssh:// or user@host:path.
    #[arg(long, env = "RUDDER_REPO", value_name = "URL")]
    pub repo: String,
    /// Branch, tag or full commit id to follow.
    #[arg(
        long = "ref",
        env = "RUDDER_REF",
        value_name = "REF",
        default_value = "main"
    )]
    pub reference: String,
    /// Path of the overlay in the repository; may contain {region} and
    /// {cluster}, e.g. clusters/{region}. The one-app form of --apps.
    #[arg(
        long,
        env = "RUDDER_PATH",
        value_name = "TEMPLATE",
        required_unless_present = "apps",
        conflicts_with = "apps"
    )]
    pub path: Option<String>,
    /// YAML file listing several apps: `apps: [{name, path, prune, vars}]`.
    #[arg(long, env = "RUDDER_APPS", value_name = "FILE")]
    pub apps: Option<PathBuf>,
    /// This cluster's region (e.g. eu-west-1); given to renders as
    /// ${RUDDER_REGION}.
    #[arg(long, env = "RUDDER_REGION")]
    pub region: String,
    /// This cluster's name; given to renders as ${RUDDER_CLUSTER}.
    #[arg(long, env = "RUDDER_CLUSTER", value_name = "NAME")]
    pub cluster: String,
    /// How often to look for a new commit (with up to 10% jitter).
    #[arg(long, env = "RUDDER_INTERVAL", value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub interval: Duration,
    /// Delete members that left Git (the one-app form; each app of --apps
    /// says for itself).
    #[arg(long, env = "RUDDER_PRUNE")]
    pub prune: bool,
    /// Address of the HTTP server (status, metrics, webhooks).
    #[arg(
        long,
        env = "RUDDER_LISTEN",
        value_name = "ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub listen: SocketAddr,
    /// kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the
    /// in-cluster service account).
    #[arg(long, env = "RUDDER_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current context).
    #[arg(long, env = "RUDDER_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// ApplySet name of the one-app form (default: derived from the path,
    /// e.g. clusters-us-east-1).
    #[arg(long, env = "RUDDER_NAME", value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace of the ApplySet parents, the Lease, the Events and
    /// --vars-from objects (default: rudder-system; `--namespace` and
    /// RUDDER_NAMESPACE, the old spellings, still work for one release).
    #[arg(
        long = "parent-namespace",
        alias = "namespace",
        env = "RUDDER_PARENT_NAMESPACE",
        value_name = "NS"
    )]
    pub parent_namespace: Option<String>,
    /// Namespace for namespaced objects that name none (Flux's
    /// targetNamespace; an app's targetNamespace wins); default: the
    /// kubeconfig's namespace, in a pod rudder's own.
    #[arg(long, env = "RUDDER_TARGET_NAMESPACE", value_name = "NS")]
    pub target_namespace: Option<String>,
    /// Variables for every app from a ConfigMap or Secret in
    /// --parent-namespace: configmap/NAME or secret/NAME (repeatable;
    /// comma-separated in the environment variable).
    #[arg(
        long = "vars-from",
        env = "RUDDER_VARS_FROM",
        value_name = "KIND/NAME",
        value_delimiter = ',',
        value_parser = VarsSource::parse
    )]
    pub vars_from: Vec<VarsSource>,
    /// Where the Git cache lives.
    #[arg(
        long,
        env = "RUDDER_CACHE_DIR",
        value_name = "DIR",
        default_value = "/tmp/rudder"
    )]
    pub cache_dir: PathBuf,
    /// File holding the webhook secret (GitHub HMAC, GitLab token, generic
    /// HMAC); without it the webhooks are off.
    #[arg(long, env = "RUDDER_WEBHOOK_SECRET_FILE", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// A variable for ${NAME} substitution (repeatable; comma-separated in
    /// the environment variable).
    #[arg(
        long = "var",
        env = "RUDDER_VARS",
        value_name = "NAME=VALUE",
        value_delimiter = ','
    )]
    pub vars: Vec<String>,
    /// SSH private key file (for ssh:// and user@host:path URLs).
    #[arg(
        long,
        env = "RUDDER_SSH_KEY_FILE",
        value_name = "FILE",
        requires = "known_hosts_file"
    )]
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file; required with SSH: an unknown host key is an error.
    #[arg(long, env = "RUDDER_KNOWN_HOSTS_FILE", value_name = "FILE")]
    pub known_hosts_file: Option<PathBuf>,
    /// HTTPS user name (default `git` with a token).
    #[arg(long, env = "RUDDER_HTTPS_USERNAME", value_name = "USER")]
    pub https_username: Option<String>,
    /// File holding the HTTPS password.
    #[arg(
        long,
        env = "RUDDER_HTTPS_PASSWORD_FILE",
        value_name = "FILE",
        conflicts_with = "https_token_file"
    )]
    pub https_password_file: Option<PathBuf>,
    /// File holding an HTTPS access token.
    #[arg(long, env = "RUDDER_HTTPS_TOKEN_FILE", value_name = "FILE")]
    pub https_token_file: Option<PathBuf>,
    /// Largest share of an app's inventory pruned in one sync (0 to 1).
    #[arg(
        long,
        env = "RUDDER_MAX_PRUNE_SHARE",
        value_name = "SHARE",
        default_value_t = 0.5
    )]
    pub max_prune_share: f64,
    /// Prune even when a render produced no object at all.
    #[arg(long, env = "RUDDER_ALLOW_EMPTY_PRUNE")]
    pub allow_empty_prune: bool,
    /// Delete and recreate any object whose change hits an immutable field.
    #[arg(long, env = "RUDDER_RECREATE")]
    pub recreate: bool,
    /// Requests in flight at once per app.
    #[arg(
        long,
        env = "RUDDER_CONCURRENCY",
        value_name = "N",
        default_value_t = 16
    )]
    pub concurrency: usize,
    /// How often each app re-checks its set from the watch cache (no
    /// request when nothing changed); the watches heal at once anyway.
    #[arg(long, env = "RUDDER_RESYNC", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub resync: Duration,
    /// YAML file with custom health rules in CEL: `health: [{apiVersion,
    /// kind, current, inProgress, failed}]` (added to the apps file's).
    #[arg(long, env = "RUDDER_HEALTH_RULES", value_name = "FILE")]
    pub health_rules: Option<PathBuf>,
    /// Suspend every app: fetch and report, but neither sync, heal nor
    /// prune (as `rudder suspend` does for one app).
    #[arg(long, env = "RUDDER_SUSPEND")]
    pub suspend: bool,
    /// How long a sync wave (`rudder.io/wave`) may take to become healthy
    /// before the sync stops there and reports the objects that held it.
    #[arg(long, env = "RUDDER_WAVE_TIMEOUT", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub wave_timeout: Duration,
    /// Elect a leader through a coordination.k8s.io Lease, for several
    /// replicas: only the leader fetches and writes.
    #[arg(long, env = "RUDDER_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the Lease (in --parent-namespace).
    #[arg(
        long,
        env = "RUDDER_LEASE_NAME",
        value_name = "NAME",
        default_value = "rudder-leader"
    )]
    pub lease_name: String,
    /// This replica's identity in the Lease (default: $POD_NAME or the
    /// host name, with the process id).
    #[arg(long, env = "RUDDER_IDENTITY", value_name = "ID")]
    pub identity: Option<String>,
}

impl RunArgs {
    /// The namespace of the parents: --parent-namespace, else the old
    /// RUDDER_NAMESPACE, else rudder-system.
    pub fn parent_namespace(&self) -> String {
        self.parent_namespace
            .clone()
            .or_else(|| {
                std::env::var("RUDDER_NAMESPACE")
                    .ok()
                    .filter(|ns| !ns.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_PARENT_NAMESPACE.to_string())
    }
}

/// One app as the apps file writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppEntry {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// More variables from ConfigMaps and Secrets (`secret/NAME`), below
    /// `vars`.
    #[serde(default, rename = "varsFrom")]
    pub vars_from: Vec<VarsSource>,
    /// Namespace for this app's namespaced objects that name none.
    #[serde(default, rename = "targetNamespace")]
    pub target_namespace: Option<String>,
    /// Apps that must be Synced and Healthy at a revision before this one
    /// syncs it.
    #[serde(default, rename = "dependsOn")]
    pub depends_on: Vec<String>,
    /// What happens to the app's objects once it leaves the apps file.
    #[serde(default, rename = "deletionPolicy")]
    pub deletion_policy: DeletionPolicy,
}

/// What happens to an app's objects when the app leaves the apps file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPolicy {
    /// The objects stay; only the ApplySet parent goes.
    #[default]
    Orphan,
    /// The objects are pruned (in reverse wave and stage order), then the
    /// parent goes.
    Delete,
}

impl DeletionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionPolicy::Orphan => "orphan",
            DeletionPolicy::Delete => "delete",
        }
    }
}

/// The apps file. Later versions add top-level keys (ordering, waves,
/// suspend, custom health) beside `apps`; an unknown key is an error so a
/// typo never passes silently.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppsFile {
    pub apps: Vec<AppEntry>,
    /// Custom health rules (CEL) for every app.
    #[serde(default)]
    pub health: Vec<rudder_reconciler::health_rules::HealthRuleSpec>,
}

/// An app ready to run: its path templated for this cluster, its ApplySet
/// and field manager, and the variables its render gets.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub name: String,
    pub path: String,
    pub prune: bool,
    pub vars: BTreeMap<String, String>,
    /// Read from the cluster before each render; `vars` win over them.
    pub vars_from: Vec<VarsSource>,
    /// Overrides the agent's --target-namespace.
    pub target_namespace: Option<String>,
    /// Apps synced and healthy at a revision before this one syncs it.
    pub depends_on: Vec<String>,
    pub deletion_policy: DeletionPolicy,
    pub field_manager: String,
}

/// Replaces `{region}` and `{cluster}`; any other `{...}` is an error.
pub fn expand_template(template: &str, region: &str, cluster: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("path `{template}`: `{{` without `}}`"))?;
        match &after[..close] {
            "region" => out.push_str(region),
            "cluster" => out.push_str(cluster),
            other => {
                return Err(format!(
                    "path `{template}`: unknown placeholder {{{other}}} (use {{region}} or {{cluster}})"
                ));
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out.trim_matches('/').to_string())
}

/// Parses `NAME=VALUE` items.
pub fn parse_vars(items: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in items.iter().filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--var `{item}`: expected NAME=VALUE"))?;
        if name.is_empty() {
            return Err(format!("--var `{item}`: the variable name is empty"));
        }
        out.insert(name.to_string(), value.to_string());
    }
    Ok(out)
}

/// The variables every render of this region gets: `RUDDER_REGION` and
/// `RUDDER_CLUSTER`, then the `--var`s (which may override them).
pub fn region_vars(
    region: &str,
    cluster: &str,
    vars: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    out.insert("RUDDER_REGION".to_string(), region.to_string());
    out.insert("RUDDER_CLUSTER".to_string(), cluster.to_string());
    out.extend(parse_vars(vars)?);
    Ok(out)
}

/// Reads an apps file's text, refusing it if any app is invalid; errors
/// name the file (and line). What `rudder vet` checks with.
pub fn parse_apps_file(file: &str, text: &str) -> Result<AppsFile, String> {
    let (parsed, invalid) = parse_apps_file_lenient(file, text)?;
    match invalid.into_iter().next() {
        Some(first) => Err(first.message),
        None => Ok(parsed),
    }
}

/// An app of the apps file that cannot run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidApp {
    pub name: String,
    pub line: usize,
    /// `FILE:LINE: app `NAME`: problem`.
    pub message: String,
}

/// Reads an apps file's text, keeping the valid apps and setting the
/// invalid ones aside (an unknown field, a bad name, a duplicate, a
/// `dependsOn` on an unknown or invalid app, a cycle), so the agent runs
/// the rest and reports these in `/status`. Only a file that does not
/// parse as a whole (YAML, an unknown top-level key, no apps) is an error.
pub fn parse_apps_file_lenient(
    file: &str,
    text: &str,
) -> Result<(AppsFile, Vec<InvalidApp>), String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        apps: Vec<serde_json::Value>,
        #[serde(default)]
        health: Vec<rudder_reconciler::health_rules::HealthRuleSpec>,
    }
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    if raw.apps.is_empty() {
        return Err(format!("{file}: `apps` is empty: list at least one app"));
    }
    let mut valid: Vec<AppEntry> = Vec::new();
    let mut invalid: Vec<InvalidApp> = Vec::new();
    let invalid_app = |name: &str, problem: &str| {
        let line = line_of_app(text, name);
        InvalidApp {
            name: name.to_string(),
            line,
            message: format!("{file}:{line}: app `{name}`: {problem}"),
        }
    };
    for (index, item) in raw.apps.into_iter().enumerate() {
        let name = item
            .get("name")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| format!("#{}", index + 1), str::to_owned);
        match serde_json::from_value::<AppEntry>(item) {
            Err(e) => invalid.push(invalid_app(&name, &e.to_string())),
            Ok(app) if app.name.is_empty() || dns_label(&app.name) != app.name => {
                invalid.push(invalid_app(&name, &format!(
                    "app name `{}` must be a DNS label (lower-case letters, digits and `-`), as it names the app's ApplySet",
                    app.name
                )));
            }
            Ok(app) if valid.iter().any(|v| v.name == app.name) => {
                invalid.push(invalid_app(&name, "listed twice"));
            }
            Ok(app) => valid.push(app),
        }
    }
    // Apps that depend on an invalid app cannot run either; then unknown
    // names and cycles, one app at a time, until what is left holds.
    loop {
        let blocked = valid.iter().position(|app| {
            app.depends_on
                .iter()
                .any(|d| invalid.iter().any(|i| &i.name == d))
        });
        if let Some(at) = blocked {
            let app = valid.remove(at);
            let dependency = app
                .depends_on
                .iter()
                .find(|d| invalid.iter().any(|i| &i.name == *d))
                .cloned()
                .unwrap_or_default();
            invalid.push(invalid_app(
                &app.name,
                &format!("dependsOn `{dependency}`, which is invalid (see its error)"),
            ));
            continue;
        }
        match check_dependencies(&valid) {
            Ok(()) => break,
            Err((name, problem)) => {
                valid.retain(|a| a.name != name);
                invalid.push(invalid_app(&name, &problem));
            }
        }
    }
    Ok((
        AppsFile {
            apps: valid,
            health: raw.health,
        },
        invalid,
    ))
}

/// Every `dependsOn` names an app of the file, and no app depends on
/// itself through others; the error names the app and the problem.
pub fn check_dependencies(apps: &[AppEntry]) -> Result<(), (String, String)> {
    let names: std::collections::BTreeSet<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    for app in apps {
        for dependency in &app.depends_on {
            if !names.contains(dependency.as_str()) {
                return Err((
                    app.name.clone(),
                    format!(
                        "dependsOn `{dependency}`, which is not an app of this file (apps: {})",
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    // Depth-first, keeping the path to report a cycle as it runs.
    fn visit<'a>(
        name: &'a str,
        apps: &'a [AppEntry],
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Result<(), Vec<&'a str>> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(start) = path.iter().position(|n| *n == name) {
            let mut cycle = path[start..].to_vec();
            cycle.push(name);
            return Err(cycle);
        }
        path.push(name);
        let app = apps.iter().find(|a| a.name == name).expect("checked above");
        for dependency in &app.depends_on {
            visit(dependency, apps, path, done)?;
        }
        path.pop();
        done.insert(name);
        Ok(())
    }
    let mut done = std::collections::BTreeSet::new();
    for app in apps {
        visit(&app.name, apps, &mut Vec::new(), &mut done).map_err(|cycle| {
            (
                cycle[0].to_string(),
                format!("dependsOn forms a cycle: {}", cycle.join(" -> ")),
            )
        })?;
    }
    Ok(())
}

/// The line (from 1) where app `name` is listed, for error messages; 1
/// when it cannot be found.
fn line_of_app(text: &str, name: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == name)
        })
        .map_or(1, |i| i + 1)
}

/// The apps this agent runs: the apps file's, or the one app of `--path`.
/// Every render gets `RUDDER_REGION` and `RUDDER_CLUSTER`, then `--var`s,
/// then the app's own `vars` (the most specific wins).
pub fn app_specs(args: &RunArgs, apps_file: Option<AppsFile>) -> Result<Vec<AppSpec>, String> {
    let common = region_vars(&args.region, &args.cluster, &args.vars)?;
    let entries = match (apps_file, &args.path) {
        (Some(file), _) => file.apps,
        (None, Some(template)) => {
            let path = expand_template(template, &args.region, &args.cluster)?;
            vec![AppEntry {
                name: args.name.clone().unwrap_or_else(|| dns_label(&path)),
                path: template.clone(),
                prune: args.prune,
                vars: BTreeMap::new(),
                vars_from: Vec::new(),
                target_namespace: None,
                depends_on: Vec::new(),
                deletion_policy: DeletionPolicy::Orphan,
            }]
        }
        (None, None) => return Err("give --path TEMPLATE or --apps FILE".into()),
    };
    let mut specs = region_apps(&args.region, &args.cluster, &common, entries)?;
    for spec in &mut specs {
        let own = std::mem::take(&mut spec.vars_from);
        spec.vars_from = args.vars_from.iter().cloned().chain(own).collect();
        if spec.target_namespace.is_none() {
            spec.target_namespace = args.target_namespace.clone();
        }
    }
    Ok(specs)
}

/// The apps of one region's agent: each entry's path templated for the
/// region and cluster, its variables over `common` (see [`region_vars`]).
/// `rudder run` builds its own with it, `rudder vet` every region's.
pub fn region_apps(
    region: &str,
    cluster: &str,
    common: &BTreeMap<String, String>,
    entries: Vec<AppEntry>,
) -> Result<Vec<AppSpec>, String> {
    entries
        .into_iter()
        .map(|entry| {
            let mut vars = common.clone();
            vars.extend(entry.vars);
            Ok(AppSpec {
                path: expand_template(&entry.path, region, cluster)?,
                field_manager: format!("rudder/{}", entry.name),
                name: entry.name,
                prune: entry.prune,
                vars,
                vars_from: entry.vars_from,
                target_namespace: entry.target_namespace,
                depends_on: entry.depends_on,
                deletion_policy: entry.deletion_policy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(extra: &[&str]) -> RunArgs {
        let mut argv = vec![
            "rudder",
            "--repo",
            "git://127.0.0.1/fleet",
            "--region",
            "eu-west-1",
            "--cluster",
            "rudder-eu-west-1",
        ];
        argv.extend(extra);
        Cli::try_parse_from(argv).unwrap().run
    }

    #[test]
    fn templates_take_region_and_cluster() {
        assert_eq!(
            expand_template("clusters/{region}", "eu-west-1", "c1").unwrap(),
            "clusters/eu-west-1"
        );
        assert_eq!(expand_template("/x/{cluster}/", "r", "c1").unwrap(), "x/c1");
        assert!(
            expand_template("clusters/{zone}", "r", "c")
                .unwrap_err()
                .contains("{zone}")
        );
        assert!(expand_template("clusters/{region", "r", "c").is_err());
    }

    #[test]
    fn one_path_is_one_app_named_after_it() {
        let specs = app_specs(
            &args(&[
                "--path",
                "clusters/{region}",
                "--prune",
                "--var",
                "TIER=gold",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        let app = &specs[0];
        assert_eq!(app.name, "clusters-eu-west-1");
        assert_eq!(app.path, "clusters/eu-west-1");
        assert_eq!(app.field_manager, "rudder/clusters-eu-west-1");
        assert!(app.prune);
        assert_eq!(app.vars["RUDDER_REGION"], "eu-west-1");
        assert_eq!(app.vars["RUDDER_CLUSTER"], "rudder-eu-west-1");
        assert_eq!(app.vars["TIER"], "gold");
    }

    #[test]
    fn apps_file_gives_each_app_its_set_manager_and_vars() {
        let file = parse_apps_file(
            "apps.yaml",
            "apps:\n  - name: shop\n    path: clusters/{region}/shop\n    prune: true\n    vars: {TIER: gold}\n  - name: infra\n    path: infra\n",
        )
        .unwrap();
        let specs = app_specs(
            &args(&["--apps", "apps.yaml", "--var", "TIER=silver"]),
            Some(file),
        )
        .unwrap();
        assert_eq!(specs[0].path, "clusters/eu-west-1/shop");
        assert_eq!(specs[0].vars["TIER"], "gold");
        assert_eq!(specs[1].vars["TIER"], "silver");
        assert!(!specs[1].prune);
        assert_eq!(specs[1].field_manager, "rudder/infra");
    }

    #[test]
    fn apps_file_refuses_unknown_keys_bad_names_and_duplicates() {
        assert!(
            parse_apps_file(
                "a.yaml",
                "apps:\n  - name: a\n    path: p\n    prun: true\n"
            )
            .unwrap_err()
            .contains("a.yaml")
        );
        assert!(parse_apps_file("a.yaml", "apps: []\nextra: 1\n").is_err());
        assert!(
            parse_apps_file("a.yaml", "apps:\n  - name: Shop_1\n    path: p\n")
                .unwrap_err()
                .contains("DNS label")
        );
        assert!(
            parse_apps_file(
                "a.yaml",
                "apps:\n  - {name: a, path: p}\n  - {name: a, path: q}\n"
            )
            .unwrap_err()
            .contains("twice")
        );
        assert!(
            parse_apps_file("a.yaml", "apps: []\n")
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn vars_from_and_target_namespace_come_from_flags_and_apps() {
        let file = parse_apps_file(
            "apps.yaml",
            "apps:\n  - name: shop\n    path: shop\n    varsFrom: [secret/shop-vars]\n    targetNamespace: shop\n  - name: infra\n    path: infra\n",
        )
        .unwrap();
        let specs = app_specs(
            &args(&[
                "--apps",
                "apps.yaml",
                "--vars-from",
                "configmap/region",
                "--target-namespace",
                "apps",
            ]),
            Some(file),
        )
        .unwrap();
        assert_eq!(
            specs[0].vars_from,
            vec![
                VarsSource::ConfigMap("region".into()),
                VarsSource::Secret("shop-vars".into())
            ]
        );
        assert_eq!(specs[0].target_namespace.as_deref(), Some("shop"));
        assert_eq!(specs[1].target_namespace.as_deref(), Some("apps"));
        assert!(
            parse_apps_file(
                "a.yaml",
                "apps:\n  - {name: a, path: p, varsFrom: [deployment/x]}\n"
            )
            .unwrap_err()
            .contains("configmap/NAME")
        );
    }

    #[test]
    fn dependencies_must_exist_and_form_no_cycle() {
        let text = "apps:\n- name: crds\n  path: c\n- name: platform\n  path: p\n  dependsOn: [crds]\n- name: workloads\n  path: w\n  dependsOn: [platform, crds]\n";
        let parsed = parse_apps_file("apps.yaml", text).unwrap();
        assert_eq!(parsed.apps[2].depends_on, ["platform", "crds"]);
        let unknown = parse_apps_file(
            "apps.yaml",
            "apps:\n- name: a\n  path: p\n- name: b\n  path: q\n  dependsOn: [platfrom]\n",
        )
        .unwrap_err();
        assert!(
            unknown.starts_with("apps.yaml:4: app `b`: dependsOn `platfrom`, which is not an app"),
            "{unknown}"
        );
        let cycle = parse_apps_file(
            "apps.yaml",
            "apps:\n- name: a\n  path: p\n  dependsOn: [c]\n- name: b\n  path: q\n  dependsOn: [a]\n- name: c\n  path: r\n  dependsOn: [b]\n",
        )
        .unwrap_err();
        assert!(
            cycle.contains("app `a`: dependsOn forms a cycle: a -> c -> b -> a"),
            "{cycle}"
        );
        assert!(cycle.starts_with("apps.yaml:2:"), "{cycle}");
        let own = parse_apps_file("apps.yaml", "apps:\n- {name: a, path: p, dependsOn: [a]}\n")
            .unwrap_err();
        assert!(own.contains("a -> a"), "{own}");
    }

    #[test]
    fn invalid_apps_are_set_aside_and_the_valid_ones_kept() {
        let text = "apps:\n- name: good\n  path: g\n- name: typo\n  path: t\n  prun: true\n- name: after-typo\n  path: a\n  dependsOn: [typo]\n- name: lost\n  path: l\n  dependsOn: [nowhere]\n";
        let (parsed, invalid) = parse_apps_file_lenient("apps.yaml", text).unwrap();
        let names: Vec<&str> = parsed.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["good"]);
        let messages: Vec<&str> = invalid.iter().map(|i| i.message.as_str()).collect();
        assert!(
            messages[0].starts_with("apps.yaml:4: app `typo`: unknown field `prun`"),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m
                .starts_with("apps.yaml:7: app `after-typo`: dependsOn `typo`, which is invalid")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("apps.yaml:10: app `lost`: dependsOn `nowhere`")),
            "{messages:?}"
        );
        // The strict reading (rudder vet) refuses the file with the first.
        assert_eq!(parse_apps_file("apps.yaml", text).unwrap_err(), messages[0]);
    }

    #[test]
    fn the_parent_namespace_keeps_its_old_flag() {
        assert_eq!(
            args(&["--path", "p", "--namespace", "ops"]).parent_namespace(),
            "ops"
        );
        assert_eq!(
            args(&["--path", "p", "--parent-namespace", "ops2"]).parent_namespace(),
            "ops2"
        );
    }

    #[test]
    fn path_and_apps_exclude_each_other_and_one_is_required() {
        let base = ["rudder", "--repo", "r", "--region", "r", "--cluster", "c"];
        assert!(Cli::try_parse_from(base).is_err());
        let mut both = base.to_vec();
        both.extend(["--path", "p", "--apps", "a.yaml"]);
        assert!(Cli::try_parse_from(both).is_err());
    }
}
