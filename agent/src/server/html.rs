//! `GET /`: the status record as one HTML page a person reads at a glance:
//! region and cluster, revision with its commit time, each app's sync and
//! health, the last error with file and line, and the members that are not
//! Current. Plain HTML and CSS; no JavaScript.

use std::fmt::Write as _;

use crate::status::{HealthState, Status, SyncState};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(revision: Option<&str>) -> String {
    revision.map_or_else(|| "none".to_string(), |r| r.chars().take(12).collect())
}

fn badge_class(sync: SyncState, health: HealthState) -> &'static str {
    match (sync, health) {
        (SyncState::Failed, _) | (_, HealthState::Degraded) => "bad",
        (SyncState::Synced, HealthState::Healthy) => "good",
        _ => "wait",
    }
}

pub fn page(status: &Status) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>rudder · {region}</title>
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}}
h1{{font-size:1.5em;margin:0}} .sub{{color:#666}} table{{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}}
td,th{{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}}
.good{{color:#096b2e;font-weight:600}} .bad{{color:#b00020;font-weight:600}} .wait{{color:#946200;font-weight:600}}
code{{font-size:.92em}} .err{{background:#fdecea;padding:.5em .8em;border-radius:4px;margin:.3em 0}}
</style></head><body>
<h1>rudder · {region}</h1><p class="sub">cluster <b>{cluster}</b> · rudder {version}</p>
"#,
        region = escape(&status.region),
        cluster = escape(&status.cluster),
        version = escape(status.version),
    );
    let s = &status.source;
    let _ = write!(
        h,
        "<h2>Source</h2><table><tr><th>repository</th><td><code>{}</code></td></tr><tr><th>ref</th><td><code>{}</code></td></tr><tr><th>revision</th><td><code>{}</code> {} {}</td></tr>",
        escape(&s.repo),
        escape(&s.reference),
        escape(&short(s.revision.as_deref())),
        escape(s.commit_time.as_deref().unwrap_or("")),
        escape(s.commit_summary.as_deref().unwrap_or("")),
    );
    if let Some(error) = &s.error {
        let code = s.error_code.map_or("", |c| c.as_str());
        let _ = write!(
            h,
            r#"<tr><th>error</th><td><div class="err"><b>{}</b> {}</div></td></tr>"#,
            escape(code),
            escape(error)
        );
    }
    h.push_str("</table>");
    if status.leader.enabled {
        let _ = write!(
            h,
            "<p>leader election: {} (holder {})</p>",
            if status.leader.leading {
                "leading"
            } else {
                "standby"
            },
            escape(status.leader.holder.as_deref().unwrap_or("unknown"))
        );
    }
    h.push_str("<h2>Apps</h2><table><tr><th>app</th><th>path</th><th>sync</th><th>health</th><th>applied</th><th>last success</th><th>drift corrections</th></tr>");
    for app in &status.apps {
        let _ = write!(
            h,
            r#"<tr><td><b>{}</b></td><td><code>{}</code></td><td class="{cls}">{}</td><td class="{cls}">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
            escape(&app.name),
            escape(&app.path),
            app.sync.as_str(),
            app.health.as_str(),
            escape(&short(app.applied_revision.as_deref())),
            escape(app.last_success.as_deref().unwrap_or("never")),
            app.drift_corrections,
            cls = badge_class(app.sync, app.health),
        );
        if let Some(error) = &app.error {
            let place = match (&error.file, error.line) {
                (Some(file), Some(line)) => format!(" at <code>{}:{line}</code>", escape(file)),
                (Some(file), None) => format!(" in <code>{}</code>", escape(file)),
                _ => String::new(),
            };
            let _ = write!(
                h,
                r#"<tr><td></td><td colspan="6"><div class="err"><b>{}</b>{place}: {}</div></td></tr>"#,
                error.code.as_str(),
                escape(&error.message)
            );
        }
        if !app.not_current.is_empty() {
            h.push_str(r#"<tr><td></td><td colspan="6"><table>"#);
            for o in app.not_current.iter().take(50) {
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    escape(&o.object),
                    escape(&o.status),
                    escape(&o.message)
                );
            }
            if app.not_current.len() > 50 {
                let _ = write!(
                    h,
                    "<tr><td colspan=3>and {} more</td></tr>",
                    app.not_current.len() - 50
                );
            }
            h.push_str("</table></td></tr>");
        }
    }
    h.push_str("</table><p class=\"sub\">JSON: <a href=\"/status\">/status</a> · metrics: <a href=\"/metrics\">/metrics</a></p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{AppStatus, ErrorCode, ErrorStatus, LeaderStatus, SourceStatus};

    #[test]
    fn page_shows_region_error_place_and_escapes_text() {
        let mut app = AppStatus::new("shop", "clusters/eu-west-1", "shop", "rudder/shop");
        app.sync = SyncState::Failed;
        app.error = Some(ErrorStatus {
            code: ErrorCode::RenderYaml,
            message: "bad <yaml>".into(),
            file: Some("clusters/eu-west-1/cm.yaml".into()),
            line: Some(3),
        });
        let status = Status {
            cluster: "rudder-eu-west-1".into(),
            region: "eu-west-1".into(),
            version: "0.1.0",
            source: SourceStatus::default(),
            leader: LeaderStatus::default(),
            apps: vec![app],
        };
        let page = page(&status);
        assert!(page.contains("rudder · eu-west-1"));
        assert!(page.contains("clusters/eu-west-1/cm.yaml:3"));
        assert!(page.contains("bad &lt;yaml&gt;"));
        assert!(page.contains("RUD2001"));
        assert!(!page.contains("<script"));
    }
}
