//! `-o text|json` for the commands that report (`sync`, `diff`, `status`,
//! `tree`), and the JSON shapes of `sync` and `diff`. Built from the
//! reconciler's reports, which hold object names, counts, messages and
//! redacted diffs only, so no shape here can carry Secret data.

use rudder_reconciler::object::ObjectRef;
use rudder_reconciler::preview::Preview;
use rudder_reconciler::summary::{Outcome, SyncSummary};
use serde_json::{Value, json};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for a person.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `-o`/`--output`, flattened into each command that reports.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format: text or json.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl OutputArgs {
    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// An object's identity as every JSON output names it.
pub fn object_fields(reference: &ObjectRef) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("object".into(), json!(reference.to_string()));
    fields.insert("apiVersion".into(), json!(reference.api_version()));
    fields.insert("kind".into(), json!(reference.kind));
    fields.insert("namespace".into(), json!(reference.namespace));
    fields.insert("name".into(), json!(reference.name));
    fields
}

/// `rudder sync -o json`: counts, one record per object (unchanged ones
/// included, so a script sees the whole set), the prune notes, and the
/// refusal when a prune was refused.
pub fn sync_json(
    summary: &SyncSummary,
    prune_refusal: Option<&str>,
    held: Option<String>,
    succeeded: bool,
) -> Value {
    let objects: Vec<Value> = summary
        .objects
        .iter()
        .map(|o| {
            let mut fields = object_fields(&o.reference);
            fields.insert("action".into(), json!(o.outcome.verb()));
            if let Outcome::Failed { error, class } = &o.outcome {
                fields.insert("error".into(), json!(error));
                fields.insert("class".into(), json!(class.as_str()));
            }
            Value::Object(fields)
        })
        .collect();
    json!({
        "succeeded": succeeded,
        "counts": summary.counts(),
        "objects": objects,
        "notes": summary.notes,
        "prune_refused": prune_refusal,
        "held": held,
    })
}

/// `rudder diff -o json`: per object the action (create, update, delete)
/// and its unified diff (Secrets redacted), then the notes and errors.
pub fn diff_json(preview: &Preview) -> Value {
    let objects: Vec<Value> = preview
        .diffs
        .iter()
        .map(|d| {
            let mut fields = object_fields(&d.reference);
            fields.insert("action".into(), json!(d.action));
            fields.insert("diff".into(), json!(d.diff));
            Value::Object(fields)
        })
        .collect();
    json!({
        "objects": objects,
        "notes": preview.notes,
        "errors": preview.errors,
    })
}

/// Prints a JSON document, pretty, with a final newline.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_reconciler::apply::FailureClass;

    fn reference(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    #[test]
    fn sync_json_lists_every_object_with_its_action() {
        let mut summary = SyncSummary::new();
        summary.record(reference("Deployment", "web"), Outcome::Created);
        summary.record(reference("Deployment", "api"), Outcome::Unchanged);
        summary.record(
            reference("Deployment", "job"),
            Outcome::Failed {
                error: "field is immutable".into(),
                class: FailureClass::Immutable,
            },
        );
        let out = sync_json(&summary, None, None, false);
        assert_eq!(out["counts"]["created"], 1);
        assert_eq!(out["counts"]["failed"], 1);
        let objects = out["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0]["action"], "created");
        assert_eq!(objects[0]["apiVersion"], "apps/v1");
        assert_eq!(objects[0]["object"], "Deployment/shop/web");
        assert_eq!(objects[2]["error"], "field is immutable");
        assert_eq!(out["succeeded"], false);
    }
}
