//! `rudder status`: one line per app in a cluster (applied revision, sync,
//! health, age of the last success, the last error in brief), read from
//! the records the agent keeps on the ApplySet parents
//! ([`crate::parent_record`]), or with `--url` from an agent's `/status`.
//! `-o json` prints `{"apps": [...]}` in `/status`'s app shape. Exit 0
//! when every app shown is Synced and Healthy, 1 otherwise, so a script
//! can gate on it; 2 when it could not look.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use rudder_reconciler::applyset::{ID_LABEL, TOOLING_ANNOTATION, TOOLING_NAME};
use serde_json::{Value, json};

use crate::cli_output::{OutputArgs, print_json};
use crate::cluster_args::KubeArgs;
use crate::http_client::{self, AgentUrl};
use crate::parent_record::AppRecord;
use crate::status::{brief_age, parse_rfc3339_unix};

/// Arguments of `rudder status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Read an agent's /status instead of the cluster, e.g.
    /// http://127.0.0.1:8080 (live times and counts, one agent's apps).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Apps to show (default: every app rudder keeps in the namespace).
    #[arg(value_name = "APP")]
    pub apps: Vec<String>,
}

pub async fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    // Each app as a record (for the table and the exit code) and as the
    // JSON to print (the agent's full record with --url).
    let apps: Vec<(AppRecord, Value)> = match &args.url {
        Some(url) => from_agent(&AgentUrl::parse(url)?).await?,
        None => from_cluster(&args.kube).await?,
    };
    let (shown, missing) = select(apps, &args.apps);
    if args.output.json() {
        let records: Vec<&Value> = shown.iter().map(|(_, json)| json).collect();
        print_json(&json!({ "apps": records }));
    } else {
        let records: Vec<&AppRecord> = shown.iter().map(|(record, _)| record).collect();
        print!("{}", table(&records, now_unix()));
    }
    for name in &missing {
        eprintln!("error: no app `{name}` here");
    }
    if shown.is_empty() && missing.is_empty() {
        eprintln!(
            "no rudder apps found (looked in namespace {}; pass --parent-namespace?)",
            args.kube.parent_namespace
        );
    }
    let good = !shown.is_empty() && missing.is_empty() && shown.iter().all(|(r, _)| r.is_good());
    Ok(if good {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The records on the ApplySet parents rudder manages in the namespace.
async fn from_cluster(kube: &KubeArgs) -> anyhow::Result<Vec<(AppRecord, Value)>> {
    let (target, _) = kube.target().await?;
    let api: Api<Secret> = Api::namespaced(target.client(), &kube.parent_namespace);
    let parents = api
        .list(&ListParams::default().labels(ID_LABEL))
        .await
        .with_context(|| {
            format!(
                "cluster {}: listing the ApplySet parents in namespace {}",
                target.name(),
                kube.parent_namespace
            )
        })?;
    let mut apps = Vec::new();
    for parent in parents.items {
        let annotations = parent.metadata.annotations.unwrap_or_default();
        let ours = annotations
            .get(TOOLING_ANNOTATION)
            .is_some_and(|t| t.starts_with(&format!("{TOOLING_NAME}/")));
        let Some(name) = parent.metadata.name.filter(|_| ours) else {
            continue;
        };
        let record = AppRecord::from_annotations(&name, &annotations);
        let json = serde_json::to_value(&record)?;
        apps.push((record, json));
    }
    apps.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(apps)
}

/// The apps of one agent's `/status`.
async fn from_agent(url: &AgentUrl) -> anyhow::Result<Vec<(AppRecord, Value)>> {
    let status = http_client::status(url).await?;
    let apps = status
        .get("apps")
        .and_then(Value::as_array)
        .context("the agent's /status has no `apps` list")?;
    apps.iter()
        .map(|app| {
            let record: AppRecord = serde_json::from_value(app.clone())
                .context("an app in the agent's /status does not read as an app record")?;
            Ok((record, app.clone()))
        })
        .collect()
}

/// The apps asked for (all when none is named), and the names not found.
fn select<T>(apps: Vec<(AppRecord, T)>, names: &[String]) -> (Vec<(AppRecord, T)>, Vec<String>) {
    if names.is_empty() {
        return (apps, Vec::new());
    }
    let missing = names
        .iter()
        .filter(|n| !apps.iter().any(|(r, _)| &r.name == *n))
        .cloned()
        .collect();
    let shown = apps
        .into_iter()
        .filter(|(r, _)| names.contains(&r.name))
        .collect();
    (shown, missing)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Longest error shown in a table cell.
const ERROR_WIDTH: usize = 100;

/// The table `rudder status` prints.
pub fn table(records: &[&AppRecord], now: i64) -> String {
    let mut rows = vec![[
        "APP".to_string(),
        "REVISION".into(),
        "SYNC".into(),
        "HEALTH".into(),
        "LAST SUCCESS".into(),
        "ERROR".into(),
    ]];
    for r in records {
        let revision = r
            .applied_revision
            .as_deref()
            .map(|rev| rev.chars().take(7).collect())
            .unwrap_or_else(|| "-".into());
        let success = r
            .last_success
            .as_deref()
            .and_then(parse_rfc3339_unix)
            .map(|t| format!("{} ago", brief_age(now - t)))
            .unwrap_or_else(|| "-".into());
        rows.push([
            r.name.clone(),
            revision,
            r.sync.clone(),
            r.health.clone(),
            success,
            brief_error(r),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < 5 {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// `RUD2001 clusters/eu/app.yaml:3: ...`: the code, where, and the first
/// line of the message, cut to fit a terminal.
fn brief_error(record: &AppRecord) -> String {
    let Some(error) = &record.error else {
        return "-".into();
    };
    let first_line = error.message.lines().next().unwrap_or_default();
    let place = match (&error.file, error.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        _ => String::new(),
    };
    let mut text = if place.is_empty() || first_line.contains(&place) {
        format!("{} {first_line}", error.code)
    } else {
        format!("{} {place}: {first_line}", error.code)
    };
    if text.chars().count() > ERROR_WIDTH {
        text = text.chars().take(ERROR_WIDTH - 3).collect::<String>() + "...";
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parent_record::ErrorRecord;

    fn record(name: &str, sync: &str, health: &str) -> AppRecord {
        AppRecord {
            name: name.into(),
            path: "p".into(),
            applyset: name.into(),
            field_manager: format!("rudder/{name}"),
            sync: sync.into(),
            health: health.into(),
            applied_revision: Some("0123456789abcdef".into()),
            attempted_revision: None,
            last_attempt: None,
            last_success: Some("2026-12-02T10:00:00Z".into()),
            health_observed_at: None,
            error: None,
            reconcile_handled_at: None,
        }
    }

    #[test]
    fn the_table_has_one_line_per_app_with_short_revision_and_age() {
        let now = parse_rfc3339_unix("2026-12-02T10:05:00Z").unwrap();
        let mut broken = record("web", "Failed", "Healthy");
        broken.error = Some(ErrorRecord {
            code: "RUD2001".into(),
            message: "invalid YAML: did not find expected key\nmore".into(),
            file: Some("clusters/eu/app.yaml".into()),
            line: Some(3),
        });
        let ok = record("api", "Synced", "Healthy");
        let text = table(&[&ok, &broken], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("APP "));
        assert!(lines[1].starts_with("api ") && lines[1].contains("0123456 "));
        assert!(lines[1].contains("5m ago"));
        assert!(
            lines[2].ends_with(
                "RUD2001 clusters/eu/app.yaml:3: invalid YAML: did not find expected key"
            ),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn selecting_names_reports_the_missing_ones() {
        let apps = vec![
            (record("a", "Synced", "Healthy"), ()),
            (record("b", "Synced", "Healthy"), ()),
        ];
        let (shown, missing) = select(apps, &["b".into(), "zz".into()]);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].0.name, "b");
        assert_eq!(missing, vec!["zz".to_string()]);
    }
}
