//! Kubernetes Events on an app's ApplySet parent Secret, one for each sync
//! that changed something or failed, so `kubectl describe secret` and
//! event exporters see what rudder did. Published in the background: an
//! Event that cannot be written never delays or fails a sync. Notes hold
//! counts, object names and error messages only, never Secret data.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use rudder_reconciler::app::AppReport;

/// Kubernetes caps an Event's note at 1 kB.
const NOTE_MAX: usize = 1000;

#[derive(Clone)]
pub struct EventSink {
    recorder: Recorder,
    parent: ObjectReference,
}

impl EventSink {
    /// Events about the ApplySet parent `namespace/name`.
    pub fn new(client: kube::Client, instance: &str, namespace: &str, name: &str) -> Self {
        let reporter = Reporter {
            controller: "rudder".into(),
            instance: Some(instance.to_string()),
        };
        EventSink {
            recorder: Recorder::new(client, reporter),
            parent: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                namespace: Some(namespace.to_string()),
                name: Some(name.to_string()),
                ..ObjectReference::default()
            },
        }
    }

    fn publish(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let recorder = self.recorder.clone();
        let parent = self.parent.clone();
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(truncate(note)),
            action: action.to_string(),
            secondary: None,
        };
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &parent).await {
                tracing::debug!(%error, "could not write an Event");
            }
        });
    }

    pub fn render_failed(&self, revision: &str, code: &str, message: &str) {
        self.publish(
            EventType::Warning,
            "RenderFailed",
            "Render",
            format!(
                "revision {}: {code}: {message}; nothing applied",
                short(revision)
            ),
        );
    }

    pub fn sync_report(&self, report: &AppReport, code: Option<&str>) {
        let counts = report.counts;
        match report.first_failure() {
            None => self.publish(
                EventType::Normal,
                "Synced",
                "Sync",
                format!("revision {}: {counts}", short(&report.revision)),
            ),
            Some((_, message)) => self.publish(
                EventType::Warning,
                "SyncFailed",
                "Sync",
                format!(
                    "revision {}: {counts}: {}: {message}",
                    short(&report.revision),
                    code.unwrap_or("")
                ),
            ),
        }
    }
}

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(12)]
}

fn truncate(mut note: String) -> String {
    if note.len() > NOTE_MAX {
        let mut end = NOTE_MAX - 3;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_to_the_event_limit_on_a_char_boundary() {
        let note = truncate("é".repeat(800));
        assert!(note.len() <= NOTE_MAX);
        assert!(note.ends_with("..."));
        assert_eq!(truncate("short".into()), "short");
    }
}
