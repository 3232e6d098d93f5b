//! Health rules for custom kinds, in CEL (as Flux's `healthCheckExprs`):
//! for an `apiVersion`'s group and a `kind`, expressions `failed`,
//! `current` and `inProgress` over the live object, whose top-level fields
//! are the variables (`metadata`, `spec`, `status`, ...; `spec` and
//! `status` are empty maps when absent, so `has(status.phase)` is simply
//! false for an object no controller has touched yet). The first that
//! holds, in that order, decides; none holding means InProgress. A rule
//! that does not compile is refused when the rules are compiled, naming
//! it; one that fails on an object makes that object Unknown with the
//! message, never a crash. A rule for a built-in kind overrides kstatus.

use std::fmt;

use cel::{Context, Program};
use serde::Deserialize;
use serde_json::Value;

use crate::health::{HealthStatus, ObjectHealth};

/// One rule as the apps file or `--health-rules` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthRuleSpec {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub in_progress: Option<String>,
    #[serde(default)]
    pub failed: Option<String>,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthRuleError {
    #[error(
        "health rule for {api_version} {kind}: `{field}: {expression}` does not compile: {message}"
    )]
    Compile {
        api_version: String,
        kind: String,
        field: &'static str,
        expression: String,
        message: String,
    },
    #[error(
        "health rule for {api_version} {kind}: give at least one of current, inProgress and failed"
    )]
    Empty { api_version: String, kind: String },
    #[error("health rule for {api_version} {kind} is given twice: keep one")]
    Duplicate { api_version: String, kind: String },
}

/// One compiled rule.
struct CompiledRule {
    group: String,
    kind: String,
    /// The object's top-level fields the expressions read: only these are
    /// turned into CEL values (most rules read `status` alone).
    variables: std::collections::BTreeSet<String>,
    /// `(status, field name, expression, program)` in evaluation order.
    checks: Vec<(HealthStatus, &'static str, String, Program)>,
}

/// The compiled rules; empty means kstatus alone judges.
#[derive(Default)]
pub struct HealthRules {
    rules: Vec<CompiledRule>,
}

impl fmt::Debug for HealthRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| format!("{}/{}", r.group, r.kind)))
            .finish()
    }
}

/// The group of an apiVersion: `example.com/v1` → `example.com`, `v1` → ``.
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

impl HealthRules {
    /// Compiles every rule; the first that does not compile is the error.
    pub fn compile(specs: &[HealthRuleSpec]) -> Result<Self, HealthRuleError> {
        let mut rules: Vec<CompiledRule> = Vec::new();
        for spec in specs {
            let group = group_of(&spec.api_version).to_string();
            if rules
                .iter()
                .any(|r| r.group == group && r.kind == spec.kind)
            {
                return Err(HealthRuleError::Duplicate {
                    api_version: spec.api_version.clone(),
                    kind: spec.kind.clone(),
                });
            }
            let mut checks = Vec::new();
            for (status, field, expression) in [
                (HealthStatus::Failed, "failed", &spec.failed),
                (HealthStatus::Current, "current", &spec.current),
                (HealthStatus::InProgress, "inProgress", &spec.in_progress),
            ] {
                let Some(expression) = expression else {
                    continue;
                };
                let program =
                    Program::compile(expression).map_err(|e| HealthRuleError::Compile {
                        api_version: spec.api_version.clone(),
                        kind: spec.kind.clone(),
                        field,
                        expression: expression.clone(),
                        message: e.to_string().trim().to_string(),
                    })?;
                checks.push((status, field, expression.clone(), program));
            }
            if checks.is_empty() {
                return Err(HealthRuleError::Empty {
                    api_version: spec.api_version.clone(),
                    kind: spec.kind.clone(),
                });
            }
            let variables = checks
                .iter()
                .flat_map(|(_, _, _, program)| {
                    program
                        .references()
                        .variables()
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            rules.push(CompiledRule {
                group,
                kind: spec.kind.clone(),
                variables,
                checks,
            });
        }
        Ok(HealthRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The health of `object` by its kind's rule; `None` when no rule is
    /// for its kind (kstatus judges it then).
    pub fn judge(&self, object: &Value) -> Option<ObjectHealth> {
        if self.rules.is_empty() {
            return None;
        }
        let api_version = object.get("apiVersion").and_then(Value::as_str)?;
        let kind = object.get("kind").and_then(Value::as_str)?;
        let group = group_of(api_version);
        let rule = self
            .rules
            .iter()
            .find(|r| r.group == group && r.kind == kind)?;
        Some(evaluate(rule, object))
    }
}

/// An empty CEL map, for `spec` and `status` of an object without them.
fn empty_map() -> cel::Value {
    cel::to_value(serde_json::Map::new()).unwrap_or(cel::Value::Null)
}

/// Evaluates a rule's checks in order over `object`.
fn evaluate(rule: &CompiledRule, object: &Value) -> ObjectHealth {
    let unknown = |message: String| ObjectHealth {
        status: HealthStatus::Unknown,
        message,
    };
    let Some(fields) = object.as_object() else {
        return unknown("the object is not a map".into());
    };
    // The standard functions are registered once per thread; each object
    // gets its own scope for its variables.
    thread_local! {
        static ROOT: Context<'static, 'static> = Context::default();
    }
    ROOT.with(|root| evaluate_in(rule, fields, root.new_inner_scope()))
}

fn evaluate_in(
    rule: &CompiledRule,
    fields: &serde_json::Map<String, Value>,
    mut context: Context<'_, '_>,
) -> ObjectHealth {
    let unknown = |message: String| ObjectHealth {
        status: HealthStatus::Unknown,
        message,
    };
    for name in &rule.variables {
        match fields.get(name) {
            Some(value) => match cel::to_value(value) {
                Ok(value) => context.add_variable_from_value(name.as_str(), value),
                Err(e) => return unknown(format!("reading `{name}` for the health rule: {e}")),
            },
            None if name == "spec" || name == "status" => {
                context.add_variable_from_value(name.as_str(), empty_map())
            }
            // Any other name is the expression's own (a macro's variable)
            // or undeclared, which the evaluation reports.
            None => {}
        }
    }
    for (status, field, expression, program) in &rule.checks {
        match program.execute(&context) {
            Ok(cel::Value::Bool(true)) => {
                return ObjectHealth {
                    status: *status,
                    message: format!("health rule: {field}: {expression}"),
                };
            }
            Ok(cel::Value::Bool(false)) => {}
            Ok(other) => {
                return unknown(format!(
                    "health rule {field}: `{expression}` gave {other:?}, not true or false"
                ));
            }
            Err(e) => {
                return unknown(format!("health rule {field}: `{expression}` failed: {e}"));
            }
        }
    }
    ObjectHealth {
        status: HealthStatus::InProgress,
        message: "health rule: none of its conditions holds yet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget_rules() -> HealthRules {
        HealthRules::compile(&[HealthRuleSpec {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            current: Some(r#"has(status.phase) && status.phase == "Ready""#.into()),
            in_progress: None,
            failed: Some(r#"has(status.phase) && status.phase == "Broken""#.into()),
        }])
        .unwrap()
    }

    fn widget(status: Value) -> Value {
        let mut object = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 3}});
        if !status.is_null() {
            object["status"] = status;
        }
        object
    }

    #[test]
    fn the_first_condition_that_holds_decides_and_none_is_in_progress() {
        let rules = widget_rules();
        let judge = |status| rules.judge(&widget(status)).unwrap().status;
        assert_eq!(judge(json!({"phase": "Ready"})), HealthStatus::Current);
        assert_eq!(judge(json!({"phase": "Broken"})), HealthStatus::Failed);
        assert_eq!(
            judge(json!({"phase": "Starting"})),
            HealthStatus::InProgress
        );
        // No status yet: not Current, and not an error.
        assert_eq!(judge(Value::Null), HealthStatus::InProgress);
    }

    #[test]
    fn conditions_lists_work_as_in_flux() {
        let rules = HealthRules::compile(&[HealthRuleSpec {
            api_version: "example.com/v1beta1".into(),
            kind: "Widget".into(),
            current: Some(
                r#"status.conditions.exists(c, c.type == "Ready" && c.status == "True")"#.into(),
            ),
            in_progress: None,
            failed: None,
        }])
        .unwrap();
        let ready = widget(json!({"conditions": [{"type": "Ready", "status": "True"}]}));
        // The rule's group matches whatever version the object is served in.
        assert_eq!(rules.judge(&ready).unwrap().status, HealthStatus::Current);
        // A missing list is a run-time error: Unknown with the message.
        let health = rules.judge(&widget(json!({}))).unwrap();
        assert_eq!(health.status, HealthStatus::Unknown);
        assert!(
            health.message.contains("status.conditions.exists"),
            "{}",
            health.message
        );
    }

    #[test]
    fn other_kinds_are_left_to_kstatus_and_built_in_kinds_can_be_overridden() {
        let rules = widget_rules();
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(rules.judge(&config_map), None);
        let overriding = HealthRules::compile(&[HealthRuleSpec {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            current: Some(r#"has(metadata.labels) && metadata.labels.ready == "yes""#.into()),
            in_progress: None,
            failed: None,
        }])
        .unwrap();
        assert_eq!(
            overriding.judge(&config_map).unwrap().status,
            HealthStatus::InProgress
        );
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let spec = |current: &str| HealthRuleSpec {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            current: Some(current.into()),
            in_progress: None,
            failed: None,
        };
        let error = HealthRules::compile(&[spec("status.phase ==")]).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "health rule for example.com/v1 Widget: `current: status.phase ==` does not compile"
            ),
            "{error}"
        );
        let empty = HealthRuleSpec {
            current: None,
            ..spec("")
        };
        assert!(matches!(
            HealthRules::compile(&[empty]),
            Err(HealthRuleError::Empty { .. })
        ));
        assert!(matches!(
            HealthRules::compile(&[spec("true"), spec("false")]),
            Err(HealthRuleError::Duplicate { .. })
        ));
    }

    #[test]
    fn a_non_boolean_result_is_unknown() {
        let rules = HealthRules::compile(&[HealthRuleSpec {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            current: Some("spec.size".into()),
            in_progress: None,
            failed: None,
        }])
        .unwrap();
        let health = rules.judge(&widget(Value::Null)).unwrap();
        assert_eq!(health.status, HealthStatus::Unknown);
        assert!(
            health.message.contains("not true or false"),
            "{}",
            health.message
        );
    }
}
