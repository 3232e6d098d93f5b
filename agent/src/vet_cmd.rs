//! `rudder vet [DIR] [--base REV]`: the CI side of GitOps. Owns the check of
//! one commit of a fleet repository for every region, without a cluster:
//! each region's overlay rendered exactly as `rudder run` renders it (the
//! commit's tree read from the object database, `${RUDDER_REGION}` and
//! `${RUDDER_CLUSTER}` set), every object checked against the built-in
//! schemas ([`crate::schema`]), and, with `--base`, the reconciler's own
//! plan of the change against an inventory holding what the base revision
//! renders: what would be created, changed and pruned, and whether the
//! prune guards would refuse. Output for people or `-o json`; exit 0 when
//! every region passes, 1 when any finding is an error, 2 when vet could
//! not run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use rudder_reconciler::diff::object_diff_between;
use rudder_reconciler::inventory::{Inventory, InventoryEntry};
use rudder_reconciler::object::{DesiredObject, ObjectKey, place_namespace};
use rudder_reconciler::plan::{
    self, ApplyReason, LiveFacts, PlanOptions, PruneDecision, PruneRefusal, RefusalReason,
    RenderOutcome,
};
use rudder_render::fs::{EntryKind, FileTree as _, join, parent};
use rudder_render::{RenderError, RenderOptions};
use serde::Serialize;
use serde_json::Value;

use crate::cluster_args::dns_label;
use crate::cluster_args::prune_guards;
use crate::run::config::{
    AppEntry, AppSpec, AppsFile, expand_template, parse_apps_file, region_apps, region_vars,
};
use crate::schema::{self, Verdict};
use crate::source::{Snapshot, render_snapshot};
use crate::status::{ErrorCode, ErrorStatus};

/// Where regions are found when no `--region` is given.
const CLUSTERS_DIR: &str = "clusters";
/// The overlay of a region when no `--path` is given.
const DEFAULT_PATH: &str = "clusters/{region}";

/// Arguments of `rudder vet`.
#[derive(clap::Args, Debug)]
pub struct VetArgs {
    /// The fleet repository: a clone, or any directory inside one.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The commit to vet (anything `git rev-parse` takes). The work tree is
    /// not read: commit first, as the agents only ever see commits.
    #[arg(long = "rev", value_name = "REV", default_value = "HEAD")]
    pub revision: String,
    /// Also report, per region, what the change from this revision would
    /// create, change and prune, and whether the prune guards would refuse.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Path of the overlay of each region, with {region} and {cluster}, as
    /// `rudder run --path` takes it (repeatable).
    #[arg(long = "path", value_name = "TEMPLATE")]
    pub paths: Vec<String>,
    /// The agents' apps file (`rudder run --apps`): every app of it is
    /// vetted in every region, with its own path, variables and prune.
    #[arg(long, value_name = "FILE", conflicts_with = "paths")]
    pub apps: Option<PathBuf>,
    /// Regions to vet (repeatable or comma-separated); default: every
    /// directory under clusters/ (in the commit, and in --base).
    #[arg(long = "region", value_name = "REGION", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Each region's cluster name as its agent's --cluster gives it, given
    /// to renders as ${RUDDER_CLUSTER}; may contain {region}.
    #[arg(long, value_name = "TEMPLATE", default_value = "{region}")]
    pub cluster: String,
    /// The namespace the agents give namespaced objects that name none:
    /// their kubeconfig's, or in a cluster their own (e.g. rudder-system).
    #[arg(long, value_name = "NS", default_value = "default")]
    pub default_namespace: String,
    /// A variable for ${NAME} substitution, as `rudder run --var`
    /// (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Judge the change as agents running without --prune do (objects that
    /// left Git stay); by default vet assumes --prune.
    #[arg(long)]
    pub no_prune: bool,
    /// The agents' --max-prune-share (0 to 1; 1 allows any share).
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    pub max_prune_share: f64,
    /// The agents' --allow-empty-prune.
    #[arg(long)]
    pub allow_empty_prune: bool,
    /// Show the diff of each changed object (Secret values redacted).
    #[arg(long)]
    pub diff: bool,
    /// Output format: text or json.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

/// The verdict on one commit.
#[derive(Debug, Serialize)]
pub struct Report {
    pub repository: String,
    pub revision: Revision,
    pub base: Option<Revision>,
    /// No region has an error.
    pub ok: bool,
    pub regions: Vec<RegionReport>,
}

/// A commit as the report names it.
#[derive(Debug, Serialize)]
pub struct Revision {
    pub commit: String,
    pub summary: String,
}

/// The verdict on one region's overlay.
#[derive(Debug, Serialize)]
pub struct RegionReport {
    pub region: String,
    pub cluster: String,
    /// The app, when an apps file names the region's apps.
    pub app: Option<String>,
    pub path: String,
    pub ok: bool,
    /// `kustomization` or `directory`; none when the render failed.
    pub mode: Option<String>,
    /// Objects rendered, in all and by kind.
    pub objects: usize,
    pub kinds: BTreeMap<String, usize>,
    pub schema: SchemaCounts,
    pub errors: Vec<Finding>,
    pub notes: Vec<String>,
    /// With `--base`: the change, as the agent would plan it.
    pub change: Option<Change>,
}

/// How many objects the schema check covered.
#[derive(Debug, Default, Serialize)]
pub struct SchemaCounts {
    pub checked: usize,
    /// Of kinds with no built-in schema (custom resources): not checked.
    pub skipped: usize,
}

/// One error: the agent's error record (code, message, file, line), with
/// the object and field a schema error is about.
#[derive(Debug, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub error: ErrorStatus,
    pub object: Option<String>,
    pub field: Option<String>,
}

/// What the change from the base revision would do to a region.
#[derive(Debug, Default, Serialize)]
pub struct Change {
    /// Objects the base revision renders (the inventory the plan starts
    /// from).
    pub base_objects: usize,
    pub create: Vec<String>,
    pub change: Vec<Changed>,
    pub unchanged: usize,
    /// What would be deleted; when `prune_refused` is set, what the agent
    /// would refuse to delete.
    pub prune: Vec<String>,
    /// Objects that left Git and stay (pruning off, or `rudder.io/prune:
    /// disabled`), each with why.
    pub kept: Vec<String>,
    pub prune_refused: Option<Refusal>,
}

/// One changed object, with its diff (Secret values redacted).
#[derive(Debug, Serialize)]
pub struct Changed {
    pub object: String,
    pub diff: Option<String>,
}

/// A prune the agent's guards would refuse.
#[derive(Debug, Serialize)]
pub struct Refusal {
    /// The guard: `empty-render` or `max-prune-share`.
    pub guard: &'static str,
    /// The setting that would allow it.
    pub allow_with: String,
    pub message: String,
    pub would_prune: usize,
    pub inventory: usize,
    pub share: f64,
}

/// One overlay of one region to vet: one app of its agent.
#[derive(Debug, Clone, PartialEq)]
struct Overlay {
    region: String,
    cluster: String,
    /// The app's name when an apps file names it.
    app: Option<String>,
    spec: AppSpec,
    default_namespace: String,
}

pub fn run(args: &VetArgs) -> anyhow::Result<ExitCode> {
    let guards = prune_guards(!args.no_prune, args.max_prune_share, args.allow_empty_prune)?;
    let head = Snapshot::local(&args.dir, &args.revision)?;
    let base = match &args.base {
        Some(base) => Some(Snapshot::local(&args.dir, base)?),
        None => None,
    };
    let regions = if args.regions.is_empty() {
        let mut found = regions_in(&head)?;
        if let Some(base) = &base {
            found.extend(regions_in(base)?);
        }
        if found.is_empty() {
            anyhow::bail!(
                "{}: commit {} has no directories under {CLUSTERS_DIR}/; name the regions with --region (and their overlay with --path)",
                args.dir.display(),
                short(&head.revision)
            );
        }
        found.into_iter().collect()
    } else {
        args.regions.clone()
    };
    let apps_file = match &args.apps {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the apps file {}", path.display()))?;
            Some(parse_apps_file(&path.display().to_string(), &text).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let overlays = overlays(args, apps_file, &regions).map_err(anyhow::Error::msg)?;
    let reports: Vec<RegionReport> = overlays
        .iter()
        .map(|overlay| vet_overlay(&head, base.as_ref(), overlay, &guards))
        .collect();
    let report = Report {
        repository: args.dir.display().to_string(),
        revision: revision(&head),
        base: base.as_ref().map(revision),
        ok: reports.iter().all(|r| r.ok),
        regions: reports,
    };
    let text = if args.output == "json" {
        let mut text = serde_json::to_string_pretty(&report).context("writing JSON")?;
        text.push('\n');
        text
    } else {
        human(&report, args.diff)
    };
    print!("{text}");
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn revision(snapshot: &Snapshot) -> Revision {
    Revision {
        commit: snapshot.revision.clone(),
        summary: snapshot.summary.clone(),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The directories under `clusters/` of a commit (none when it has none).
fn regions_in(snapshot: &Snapshot) -> anyhow::Result<BTreeSet<String>> {
    let tree = snapshot.tree()?;
    if tree.kind(CLUSTERS_DIR) != EntryKind::Dir {
        return Ok(BTreeSet::new());
    }
    let names = tree.list(CLUSTERS_DIR).map_err(|e| {
        anyhow::anyhow!(
            "{CLUSTERS_DIR}/ in commit {}: {e}",
            short(&snapshot.revision)
        )
    })?;
    Ok(names
        .into_iter()
        .filter(|name| tree.kind(&format!("{CLUSTERS_DIR}/{name}")) == EntryKind::Dir)
        .collect())
}

/// Every region × app (of the apps file, or one per path template, pruning
/// unless `--no-prune`), each app as that region's agent would run it.
fn overlays(
    args: &VetArgs,
    apps_file: Option<AppsFile>,
    regions: &[String],
) -> Result<Vec<Overlay>, String> {
    if args.cluster.contains("{cluster}") {
        return Err(format!(
            "--cluster `{}`: may contain {{region}}, not {{cluster}}",
            args.cluster
        ));
    }
    let named = apps_file.is_some();
    let entries = match apps_file {
        Some(file) => file.apps,
        None if args.paths.is_empty() => vec![path_app(DEFAULT_PATH, args)],
        None => args.paths.iter().map(|p| path_app(p, args)).collect(),
    };
    let mut out = Vec::new();
    for region in regions.iter().filter(|r| !r.is_empty()) {
        let cluster = expand_template(&args.cluster, region, "")?;
        let common = region_vars(region, &cluster, &args.vars)?;
        for mut spec in region_apps(region, &cluster, &common, entries.clone())? {
            spec.prune &= !args.no_prune;
            out.push(Overlay {
                region: region.clone(),
                cluster: cluster.clone(),
                app: named.then(|| spec.name.clone()),
                spec,
                default_namespace: args.default_namespace.clone(),
            });
        }
    }
    Ok(out)
}

/// The one app of an agent started with `--path TEMPLATE`.
fn path_app(template: &str, args: &VetArgs) -> AppEntry {
    AppEntry {
        name: dns_label(template),
        path: template.to_string(),
        prune: !args.no_prune,
        vars: BTreeMap::new(),
        vars_from: Vec::new(),
        target_namespace: None,
        depends_on: Vec::new(),
        deletion_policy: Default::default(),
    }
}

/// What one render gave: the desired objects as the agent prepares them
/// (with the rendered object each came from), or the findings that stop
/// the agent.
struct Rendered {
    mode: String,
    objects: Vec<(Value, DesiredObject)>,
    warnings: Vec<String>,
}

fn render(snapshot: &Snapshot, overlay: &Overlay) -> Result<Rendered, Vec<Finding>> {
    let options = RenderOptions {
        vars: overlay.spec.vars.clone(),
    };
    let rendered = render_snapshot(snapshot, &overlay.spec.path, &options).map_err(|error| {
        let (code, mut file, mut line) = ErrorCode::of_render(&error);
        if let RenderError::Io { path, message } = &error
            && let Some((listing, at)) = listed_at(snapshot, path, message)
        {
            (file, line) = (Some(listing), Some(at));
        }
        vec![Finding {
            error: ErrorStatus {
                code,
                message: error.to_string(),
                file,
                line,
            },
            object: None,
            field: None,
        }]
    })?;
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for mut object in rendered.rendered.objects {
        // As the agent places it (discovery there, the built-in scopes
        // here), so an implicit and an explicit namespace are one object.
        if let Some(namespaced) = schema::namespaced(&object) {
            place_namespace(&mut object, namespaced, &overlay.default_namespace);
        }
        match DesiredObject::new(object.clone()) {
            Ok(desired) => objects.push((object, desired)),
            Err(error) => errors.push(Finding {
                error: ErrorStatus::new(ErrorCode::ObjectInvalid, error.to_string()),
                object: None,
                field: None,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Rendered {
        mode: rendered.mode.to_string(),
        objects,
        warnings: rendered.rendered.warnings,
    })
}

/// Where the kustomization that lists a missing file lists it, so that the
/// error names a file and line like a YAML error does. The renderer names
/// that kustomization (`... (listed under `resources` of FILE)`); the line
/// is the one holding an entry that leads to the missing path.
fn listed_at(snapshot: &Snapshot, missing: &str, message: &str) -> Option<(String, u64)> {
    let listing = message.rsplit_once(" of ")?.1.strip_suffix(')')?;
    let text = snapshot.tree().ok()?.read(listing).ok()?;
    let line = line_listing(&String::from_utf8_lossy(&text), parent(listing), missing)?;
    Some((listing.to_string(), line))
}

/// The first line (from 1) of a kustomization in `dir` with an entry that
/// joins to `path`, in block (`- a.yaml`) or flow (`[a.yaml, b]`) style.
fn line_listing(text: &str, dir: &str, path: &str) -> Option<u64> {
    let entry = |token: &str| join(dir, token).as_deref() == Some(path);
    text.lines()
        .position(|line| {
            line.split(|c: char| c.is_whitespace() || "[],'\"".contains(c))
                .any(entry)
        })
        .map(|i| i as u64 + 1)
}

fn vet_overlay(
    head: &Snapshot,
    base: Option<&Snapshot>,
    overlay: &Overlay,
    guards: &PlanOptions,
) -> RegionReport {
    let guards = PlanOptions {
        prune: overlay.spec.prune,
        ..guards.clone()
    };
    let mut report = RegionReport {
        region: overlay.region.clone(),
        cluster: overlay.cluster.clone(),
        app: overlay.app.clone(),
        path: overlay.spec.path.clone(),
        ok: true,
        mode: None,
        objects: 0,
        kinds: BTreeMap::new(),
        schema: SchemaCounts::default(),
        errors: Vec::new(),
        notes: Vec::new(),
        change: None,
    };
    let rendered = match render(head, overlay) {
        Ok(rendered) => rendered,
        Err(errors) => {
            report.errors = errors;
            report.notes.push(
                "the agent of this region applies nothing and prunes nothing while this commit fails to render".into(),
            );
            report.ok = false;
            return report;
        }
    };
    report.mode = Some(rendered.mode.clone());
    report.objects = rendered.objects.len();
    report.notes.extend(rendered.warnings.iter().cloned());
    check_schemas(&rendered.objects, &mut report);

    let inventory_objects = match base {
        Some(base) => base_objects(base, overlay, &mut report.notes),
        None => Vec::new(),
    };
    let mut inventory = Inventory::new();
    for desired in &inventory_objects {
        inventory.record(InventoryEntry::applied(desired));
    }
    let desired: Vec<DesiredObject> = rendered.objects.into_iter().map(|(_, d)| d).collect();
    // The reconciler's own plan, with nothing known of the live cluster:
    // every member is taken to be as the base revision left it.
    match plan::plan(
        RenderOutcome::Rendered(desired),
        &inventory,
        &LiveFacts::new(),
        &guards,
    ) {
        Ok(planned) if base.is_some() => {
            let by_key: BTreeMap<ObjectKey, &Value> = inventory_objects
                .iter()
                .map(|d| (d.reference.key(), &*d.object))
                .collect();
            let change = change_of(planned, &by_key, inventory.len());
            if let Some(refusal) = &change.1 {
                report.errors.push(Finding {
                    error: ErrorStatus::new(ErrorCode::PruneRefused, refusal.to_string()),
                    object: None,
                    field: None,
                });
            }
            report.change = Some(change.0);
        }
        Ok(_) => {}
        Err(error) => report.errors.push(Finding {
            error: ErrorStatus::new(ErrorCode::ObjectInvalid, error.to_string()),
            object: None,
            field: None,
        }),
    }
    report.ok = report.errors.is_empty();
    report
}

/// Counts kinds and checks every object's schema; kinds without a
/// built-in schema get one note each.
fn check_schemas(objects: &[(Value, DesiredObject)], report: &mut RegionReport) {
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for (object, desired) in objects {
        *report
            .kinds
            .entry(desired.reference.kind.clone())
            .or_default() += 1;
        match schema::check(object) {
            Verdict::Valid => report.schema.checked += 1,
            Verdict::Invalid(errors) => {
                report.schema.checked += 1;
                for e in errors {
                    report.errors.push(Finding {
                        error: ErrorStatus::new(
                            ErrorCode::ObjectInvalid,
                            format!("{}: {}: {}", desired.reference, e.field, e.message),
                        ),
                        object: Some(desired.reference.to_string()),
                        field: Some(e.field),
                    });
                }
            }
            Verdict::Unknown => {
                report.schema.skipped += 1;
                let kind = format!(
                    "{} {}",
                    desired.reference.api_version(),
                    desired.reference.kind
                );
                *skipped.entry(kind).or_default() += 1;
            }
        }
    }
    for (kind, count) in skipped {
        report.notes.push(format!(
            "{count} object(s) of {kind}: no built-in schema (a custom resource?); not checked"
        ));
    }
}

/// What the base revision renders for the overlay: the inventory its agent
/// would hold. A base that does not render (or lacks the overlay) holds
/// nothing, and a note says so.
fn base_objects(base: &Snapshot, overlay: &Overlay, notes: &mut Vec<String>) -> Vec<DesiredObject> {
    match render(base, overlay) {
        Ok(rendered) => rendered.objects.into_iter().map(|(_, d)| d).collect(),
        Err(errors) => {
            let why: Vec<String> = errors.iter().map(|f| f.error.message.clone()).collect();
            notes.push(format!(
                "the base revision {} does not render {} ({}): every object counts as new",
                short(&base.revision),
                overlay.spec.path,
                why.join("; ")
            ));
            Vec::new()
        }
    }
}

/// The plan as a change report, and the refusal when the guards would stop
/// the prune.
fn change_of(
    planned: plan::Plan,
    base: &BTreeMap<ObjectKey, &Value>,
    inventory_size: usize,
) -> (Change, Option<PruneRefusal>) {
    let mut change = Change {
        base_objects: inventory_size,
        unchanged: planned.unchanged.len(),
        ..Change::default()
    };
    for item in planned.apply.iter().flat_map(|(_, items)| items) {
        let reference = &item.desired.reference;
        match item.reason {
            ApplyReason::New => change.create.push(reference.to_string()),
            _ => change.change.push(Changed {
                object: reference.to_string(),
                diff: base.get(&reference.key()).and_then(|old| {
                    object_diff_between(
                        reference,
                        ("base", Some(*old)),
                        ("head", Some(&item.desired.object)),
                    )
                }),
            }),
        }
    }
    change.kept = planned.kept.iter().map(ToString::to_string).collect();
    let mut refusal = None;
    match planned.prune {
        PruneDecision::Nothing => {}
        PruneDecision::NotRequested { left_render } => {
            change.kept.extend(
                left_render
                    .iter()
                    .map(|e| format!("{} not pruned: pruning is off", e.reference)),
            );
        }
        PruneDecision::Approved(prune) => {
            change.prune = prune
                .candidates()
                .iter()
                .map(|e| e.reference.to_string())
                .collect();
        }
        PruneDecision::Refused(refused) => {
            change.prune = refused
                .would_prune
                .iter()
                .map(ToString::to_string)
                .collect();
            change.prune_refused = Some(Refusal {
                guard: guard_name(&refused.reason),
                allow_with: allow_with(&refused.reason),
                message: refused.to_string(),
                would_prune: refused.would_prune.len(),
                inventory: refused.inventory_size,
                share: refused.share(),
            });
            refusal = Some(refused);
        }
    }
    (change, refusal)
}

/// The guard a refusal comes from, as the JSON output names it.
fn guard_name(reason: &RefusalReason) -> &'static str {
    match reason {
        RefusalReason::EmptyRender => "empty-render",
        RefusalReason::OverShare { .. } => "max-prune-share",
        RefusalReason::RenderFailed { .. } => "render-failed",
        RefusalReason::ApplyFailed { .. } => "apply-failed",
    }
}

/// The agent setting that lets the refused prune through.
fn allow_with(reason: &RefusalReason) -> String {
    match reason {
        RefusalReason::EmptyRender => "--allow-empty-prune".into(),
        RefusalReason::OverShare { max_share } => format!(
            "--max-prune-share above {max_share} (1 allows any share), for the one sync that should prune this much"
        ),
        RefusalReason::RenderFailed { .. } => "a commit that renders".into(),
        RefusalReason::ApplyFailed { .. } => "a sync whose apply succeeds".into(),
    }
}

/// The report for people: one paragraph per region, then the tally.
fn human(report: &Report, diffs: bool) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "rudder vet {} at {} ({})",
        report.repository,
        short(&report.revision.commit),
        report.revision.summary
    );
    if let Some(base) = &report.base {
        let _ = write!(
            out,
            ", against base {} ({})",
            short(&base.commit),
            base.summary
        );
    }
    out.push('\n');
    for region in &report.regions {
        out.push('\n');
        let verdict = if region.ok { "ok" } else { "FAILED" };
        let app = region
            .app
            .as_ref()
            .map(|app| format!("app {app}: "))
            .unwrap_or_default();
        let _ = write!(
            out,
            "region {} ({app}{}, cluster {}): {verdict}",
            region.region, region.path, region.cluster
        );
        if let Some(mode) = &region.mode {
            let kinds: Vec<String> = region
                .kinds
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let _ = write!(
                out,
                ": {} objects ({mode}: {}); schema: {} checked, {} not built-in",
                region.objects,
                kinds.join(", "),
                region.schema.checked,
                region.schema.skipped
            );
        }
        out.push('\n');
        for finding in &region.errors {
            // Each error line names its region, for CI logs read by grep,
            // and its file and line when the message does not.
            let _ = write!(
                out,
                "  error [{}] {}: {}",
                region.region,
                finding.error.code.as_str(),
                finding.error.message
            );
            if let (Some(file), Some(line)) = (&finding.error.file, finding.error.line) {
                let at = format!("{file}:{line}");
                if !finding.error.message.contains(&at) {
                    let _ = write!(out, " (at {at})");
                }
            }
            out.push('\n');
        }
        if let Some(change) = &region.change {
            human_change(&mut out, change, diffs);
        }
        for note in &region.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    let failed = report.regions.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        out,
        "\n{} region overlay(s) vetted: {} ok, {failed} failed",
        report.regions.len(),
        report.regions.len() - failed
    );
    out
}

fn human_change(out: &mut String, change: &Change, diffs: bool) {
    let _ = writeln!(
        out,
        "  change from base ({} objects): {} to create, {} to change, {} unchanged, {} to prune",
        change.base_objects,
        change.create.len(),
        change.change.len(),
        change.unchanged,
        change.prune.len()
    );
    for object in &change.create {
        let _ = writeln!(out, "    + {object}");
    }
    for changed in &change.change {
        let _ = writeln!(out, "    ~ {}", changed.object);
        if diffs && let Some(diff) = &changed.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let refused = change.prune_refused.is_some();
    for object in &change.prune {
        let _ = writeln!(
            out,
            "    - {object}{}",
            if refused { " (refused)" } else { "" }
        );
    }
    for kept in &change.kept {
        let _ = writeln!(out, "    = {kept}");
    }
    if let Some(refusal) = &change.prune_refused {
        let _ = writeln!(
            out,
            "  the agent would refuse this prune (guard {}); to let it through: {}",
            refusal.guard, refusal.allow_with
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        vet: VetArgs,
    }

    fn args(extra: &[&str]) -> VetArgs {
        let mut argv = vec!["rudder"];
        argv.extend(extra);
        Cli::try_parse_from(argv).unwrap().vet
    }

    #[test]
    fn vet_overlays_are_every_region_by_every_path_with_the_agents_variables() {
        let a = args(&[
            "--region",
            "us-east-1,eu-west-1",
            "--path",
            "clusters/{region}",
            "--path",
            "apps/{cluster}",
            "--cluster",
            "rudder-{region}",
            "--var",
            "TIER=gold",
        ]);
        let regions = a.regions.clone();
        let o = overlays(&a, None, &regions).unwrap();
        let paths: Vec<&str> = o.iter().map(|o| o.spec.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "clusters/us-east-1",
                "apps/rudder-us-east-1",
                "clusters/eu-west-1",
                "apps/rudder-eu-west-1"
            ]
        );
        assert_eq!(o[2].spec.vars["RUDDER_REGION"], "eu-west-1");
        assert_eq!(o[2].spec.vars["RUDDER_CLUSTER"], "rudder-eu-west-1");
        assert_eq!(o[2].spec.vars["TIER"], "gold");
        assert!(o.iter().all(|o| o.spec.prune && o.app.is_none()));
    }

    #[test]
    fn vet_takes_each_app_of_an_apps_file_with_its_own_prune_and_vars() {
        let file = parse_apps_file(
            "apps.yaml",
            "apps:\n  - {name: shop, path: 'clusters/{region}/shop', prune: true, vars: {TIER: gold}}\n  - {name: infra, path: infra}\n",
        )
        .unwrap();
        let a = args(&["--var", "TIER=silver"]);
        let o = overlays(&a, Some(file.clone()), &["eu-west-1".to_string()]).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].app.as_deref(), Some("shop"));
        assert_eq!(o[0].spec.path, "clusters/eu-west-1/shop");
        assert_eq!(o[0].spec.vars["TIER"], "gold");
        assert!(o[0].spec.prune);
        assert_eq!(o[1].spec.vars["TIER"], "silver");
        assert!(!o[1].spec.prune);
        let off = overlays(&args(&["--no-prune"]), Some(file), &["r".to_string()]).unwrap();
        assert!(off.iter().all(|o| !o.spec.prune));
    }

    #[test]
    fn vet_cluster_template_may_not_name_the_cluster() {
        let a = args(&["--cluster", "{cluster}-x"]);
        assert!(
            overlays(&a, None, &["r".to_string()])
                .unwrap_err()
                .contains("{cluster}")
        );
    }

    #[test]
    fn vet_finds_the_line_listing_a_missing_file_in_either_style() {
        let block = "resources:\n- ../../base\n- gone.yaml\n";
        assert_eq!(
            line_listing(block, "clusters/a", "clusters/a/gone.yaml"),
            Some(3)
        );
        let flow = "namePrefix: a-\nresources: [../../base, \"gone.yaml\"]\n";
        assert_eq!(
            line_listing(flow, "clusters/a", "clusters/a/gone.yaml"),
            Some(2)
        );
        let up = "resources:\n- ../../base/gone.yaml\n";
        assert_eq!(line_listing(up, "clusters/a", "base/gone.yaml"), Some(2));
        assert_eq!(
            line_listing(block, "clusters/a", "clusters/a/other.yaml"),
            None
        );
    }

    #[test]
    fn vet_names_the_guard_and_the_setting_that_allows_it() {
        let over = RefusalReason::OverShare { max_share: 0.5 };
        assert_eq!(guard_name(&over), "max-prune-share");
        assert!(allow_with(&over).starts_with("--max-prune-share above 0.5"));
        assert_eq!(guard_name(&RefusalReason::EmptyRender), "empty-render");
        assert_eq!(
            allow_with(&RefusalReason::EmptyRender),
            "--allow-empty-prune"
        );
    }
}
