//! What `rudder sync` and `rudder diff` share: which directory to render
//! (and with which variables), which cluster to reach (kubeconfig and
//! context, as `kubectl` finds them), which ApplySet to reconcile, and the
//! prune guards. Turns them into a rendered object list, a [`Target`] and
//! [`SyncOptions`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::health_rules::{HealthRuleSpec, HealthRules};
use rudder_reconciler::plan::PlanOptions;
use rudder_reconciler::sync::SyncOptions;
use rudder_reconciler::target::Target;
use serde_json::Value;

use crate::render_cmd;
use crate::vars_from::{self, VarsSource};

/// Which cluster to reach and where rudder's ApplySet parents live: what
/// every command that talks to a cluster shares.
#[derive(clap::Args, Debug, Clone)]
pub struct KubeArgs {
    /// kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the
    /// in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the ApplySet parent Secrets (`--namespace` is the old
    /// spelling, kept for one release).
    #[arg(
        long = "parent-namespace",
        alias = "namespace",
        value_name = "NS",
        default_value = DEFAULT_PARENT_NAMESPACE
    )]
    pub parent_namespace: String,
}

/// Where rudder keeps its ApplySet parents unless told otherwise.
pub const DEFAULT_PARENT_NAMESPACE: &str = "rudder-system";

impl KubeArgs {
    /// Connects to the cluster named by the kubeconfig arguments.
    pub async fn target(&self) -> anyhow::Result<(Target, String)> {
        connect(self.kubeconfig.as_deref(), self.context.as_deref()).await
    }
}

/// Arguments naming the source, the cluster and the ApplySet: what `sync`
/// and `diff` share.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Directory holding the kustomization to render.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Name of the ApplySet (its parent Secret); default: derived from DIR
    /// (its path inside the Git work tree, e.g. `clusters-us-east-1`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace for namespaced objects that name none (Flux's
    /// targetNamespace); default: the kubeconfig context's namespace.
    #[arg(long, value_name = "NS")]
    pub target_namespace: Option<String>,
    /// A variable for `${NAME}` substitution after rendering (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Variables from a ConfigMap or Secret in --parent-namespace, as
    /// Flux's substituteFrom: configmap/NAME or secret/NAME (repeatable;
    /// later ones win, and --var wins over them).
    #[arg(long = "vars-from", value_name = "KIND/NAME", value_parser = VarsSource::parse)]
    pub vars_from: Vec<VarsSource>,
    /// Delete members that left the render.
    #[arg(long)]
    pub prune: bool,
    /// Largest share of the inventory pruned in one sync (0 to 1; 1 allows
    /// any share).
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    pub max_prune_share: f64,
    /// Prune even when the render produced no object at all.
    #[arg(long)]
    pub allow_empty_prune: bool,
}

impl ClusterArgs {
    /// Connects to the cluster, reads the `--vars-from` variables there and
    /// renders DIR with them and the `--var`s; the render error is the
    /// renderer's own (file and line).
    pub async fn render_for_cluster(&self) -> anyhow::Result<(Target, String, Vec<Value>)> {
        let (target, default_namespace) = self.kube.target().await?;
        let mut vars =
            vars_from::read_all(&target, &self.kube.parent_namespace, &self.vars_from).await?;
        vars.extend(render_cmd::parse_vars(&self.vars)?);
        let rendered = render_cmd::render(&self.path, vars)
            .with_context(|| format!("rendering {}", self.path.display()))?;
        Ok((target, default_namespace, rendered.objects))
    }

    /// The sync options these arguments ask for; `default_namespace` is
    /// the kubeconfig's, used unless --target-namespace is given.
    pub fn sync_options(&self, default_namespace: String) -> anyhow::Result<SyncOptions> {
        let plan = prune_guards(self.prune, self.max_prune_share, self.allow_empty_prune)?;
        let name = match &self.name {
            Some(name) => name.clone(),
            None => default_set_name(&self.path)?,
        };
        let mut options = SyncOptions::new(ApplySetParent::new(
            name,
            self.kube.parent_namespace.clone(),
        ));
        options.plan = plan;
        options.default_namespace = self.target_namespace.clone().unwrap_or(default_namespace);
        Ok(options)
    }
}

/// `--health-rules FILE`: custom health rules (CEL) for kinds kstatus does
/// not judge well.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthRulesArg {
    /// YAML file with custom health rules in CEL: `health: [{apiVersion,
    /// kind, current, inProgress, failed}]`, as in the apps file.
    #[arg(long = "health-rules", value_name = "FILE")]
    pub health_rules: Option<PathBuf>,
}

impl HealthRulesArg {
    /// The compiled rules (none without the flag).
    pub fn compile(&self) -> anyhow::Result<std::sync::Arc<HealthRules>> {
        compile_health_rules(self.health_rules.as_deref(), Vec::new())
    }
}

/// The health rules of `file` (if any) and `more` (from an apps file),
/// compiled; an error names the file and the rule.
pub fn compile_health_rules(
    file: Option<&Path>,
    more: Vec<HealthRuleSpec>,
) -> anyhow::Result<std::sync::Arc<HealthRules>> {
    let mut specs = more;
    if let Some(path) = file {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RulesFile {
            health: Vec<HealthRuleSpec>,
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the health rules {}", path.display()))?;
        let parsed: RulesFile = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        specs.extend(parsed.health);
    }
    let rules = HealthRules::compile(&specs).map_err(|e| match file {
        Some(path) => anyhow::anyhow!("{}: {e}", path.display()),
        None => anyhow::anyhow!("{e}"),
    })?;
    Ok(std::sync::Arc::new(rules))
}

/// The error for an app whose ApplySet parent does not exist.
pub fn no_such_app(target: &Target, parent: &ApplySetParent) -> anyhow::Error {
    anyhow::anyhow!(
        "cluster {}: no ApplySet parent Secret {}/{}: is `{}` an app here? (`rudder status` lists them)",
        target.name(),
        parent.namespace,
        parent.name,
        parent.name
    )
}

/// The prune guards as `--prune`, `--max-prune-share` (1 allows any share)
/// and `--allow-empty-prune` ask for them: one reading for `sync`, `diff`,
/// `run` and `vet`, so each judges a prune as the others would.
pub fn prune_guards(
    prune: bool,
    max_prune_share: f64,
    allow_empty_prune: bool,
) -> anyhow::Result<PlanOptions> {
    if !(0.0..=1.0).contains(&max_prune_share) {
        anyhow::bail!("--max-prune-share {max_prune_share}: must be between 0 and 1");
    }
    Ok(PlanOptions {
        prune,
        max_prune_share,
        allow_over_share: max_prune_share >= 1.0,
        allow_empty_render: allow_empty_prune,
    })
}

/// Connects to the cluster a kubeconfig (or, without one, `$KUBECONFIG`,
/// `~/.kube/config` or the in-cluster service account, as kube's
/// `Config::infer` does) names; returns it with its default namespace.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<(Target, String)> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let (config, name) = match kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            let name = context
                .map(str::to_owned)
                .or_else(|| kubeconfig.current_context.clone());
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?;
            (config, name)
        }
        None if context.is_some() => {
            let config = kube::Config::from_kubeconfig(&options)
                .await
                .context("loading the kubeconfig")?;
            (config, context.map(str::to_owned))
        }
        None => {
            let config = kube::Config::infer()
                .await
                .context("finding a cluster (no --kubeconfig given; tried $KUBECONFIG, ~/.kube/config and the in-cluster service account)")?;
            (config, None)
        }
    };
    let name = name.unwrap_or_else(|| config.cluster_url.to_string());
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config)
        .with_context(|| format!("cluster {name}: building the client"))?;
    Ok((Target::new(client, name), default_namespace))
}

/// The ApplySet name for a directory: its path inside the enclosing Git
/// work tree (or its own name outside one), as a DNS label:
/// `clusters/us-east-1` → `clusters-us-east-1`.
pub fn default_set_name(dir: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(dir).with_context(|| format!("reading {}", dir.display()))?;
    let root = abs.ancestors().find(|a| a.join(".git").exists());
    let relative = match root {
        Some(root) if root != abs => abs.strip_prefix(root).unwrap_or(&abs).to_path_buf(),
        _ => PathBuf::from(abs.file_name().unwrap_or_default()),
    };
    Ok(dns_label(&relative.to_string_lossy()))
}

/// Lower case, `[a-z0-9-]` only, no leading/trailing/double `-`, at most
/// 63 characters; `root` when nothing is left.
pub fn dns_label(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(63);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "root".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a sum like `1m30s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration; write e.g. 30s, 5m or 1h".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}`: a number needs a unit (ms, s, m or h)"))?;
        if digits == 0 {
            return Err(format!("`{text}`: expected a number, e.g. 30s, 5m or 1h"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = std::time::Duration::from_millis(match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        });
        total += unit * u32::try_from(number).map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_like_kubectl_timeouts() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn durations_without_unit_or_number_are_refused() {
        assert!(parse_duration("30").unwrap_err().contains("unit"));
        assert!(parse_duration("s").is_err());
        assert!(
            parse_duration("5d")
                .unwrap_err()
                .contains("unknown unit `d`")
        );
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn set_names_are_dns_labels() {
        assert_eq!(dns_label("clusters/us-east-1"), "clusters-us-east-1");
        assert_eq!(dns_label("Clusters/EU_West"), "clusters-eu-west");
        assert_eq!(dns_label("///"), "root");
        assert_eq!(dns_label(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn default_set_name_is_the_path_inside_the_work_tree() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join(".git")).unwrap();
        let dir = repo.path().join("clusters").join("us-east-1");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(default_set_name(&dir).unwrap(), "clusters-us-east-1");
    }
}
