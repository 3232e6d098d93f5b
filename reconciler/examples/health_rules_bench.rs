//! Benchmark of custom health rules (bench/health.sh): judges 1,000 custom
//! resources with the CEL rule of the apps issue, side by side with kstatus
//! judging the same objects (its generic conditions rules), and prints the
//! median of REPS runs of each, and their ratio.

use std::time::{Duration, Instant};

use rudder_reconciler::health::object_health;
use rudder_reconciler::health_rules::{HealthRuleSpec, HealthRules};
use serde_json::{Value, json};

fn widgets(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": format!("w{i}"), "namespace": "shop", "generation": 1,
                    "labels": {"app": "storefront", "tier": "web"}},
                "spec": {"size": i % 7, "image": "example/widget:1.2.3", "ports": [80, 443]},
                "status": {"phase": if i % 10 == 0 { "Starting" } else { "Ready" },
                    "observedGeneration": 1,
                    "conditions": [{"type": "Ready", "status": if i % 10 == 0 { "False" } else { "True" },
                        "reason": "Reconciled", "message": "all good"}]}
            })
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let count: usize = std::env::var("COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let rules = HealthRules::compile(&[HealthRuleSpec {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        current: Some(r#"has(status.phase) && status.phase == "Ready""#.into()),
        in_progress: None,
        failed: Some(r#"status.conditions.exists(c, c.type == "Ready" && c.status == "False" && c.reason == "Broken")"#.into()),
    }])
    .expect("the rule compiles");
    let objects = widgets(count);
    let time = |judge: &dyn Fn(&Value) -> bool| {
        let samples: Vec<Duration> = (0..reps)
            .map(|_| {
                let started = Instant::now();
                let current = objects.iter().filter(|o| judge(o)).count();
                std::hint::black_box(current);
                started.elapsed()
            })
            .collect();
        median(samples)
    };
    let cel = time(&|o| {
        rules.judge(o).expect("a rule for Widget").status
            == rudder_reconciler::health::HealthStatus::Current
    });
    let kstatus =
        time(&|o| object_health(o).status == rudder_reconciler::health::HealthStatus::Current);
    println!("objects  cel_rule_ms  kstatus_ms  ratio");
    println!(
        "{count:>7}  {:>11.2}  {:>10.2}  {:>5.1}x",
        cel.as_secs_f64() * 1e3,
        kstatus.as_secs_f64() * 1e3,
        cel.as_secs_f64() / kstatus.as_secs_f64()
    );
}
