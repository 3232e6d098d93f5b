//! The agent's Prometheus metrics (OpenMetrics text via prometheus-client).
//! Every series carries `cluster` and `region` (constant labels of the
//! registry), so a central Prometheus can federate all regions; app series
//! carry `app`. The loops in `run/` record into [`Metrics`]; `/metrics`
//! encodes it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Every kstatus state an app's members can be in, so each appears (as 0
/// when none) and a dashboard never sees a series vanish.
pub const OBJECT_STATES: [&str; 5] = ["Current", "InProgress", "Failed", "Terminating", "NotFound"];

fn sync_buckets() -> Histogram {
    Histogram::new([
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

fn commit_buckets() -> Histogram {
    Histogram::new([
        0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    sync_info: Family<Labels, Gauge>,
    last_sync: Family<Labels, Gauge<f64, AtomicU64>>,
    last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    sync_duration: HistogramFamily,
    commit_to_applied: HistogramFamily,
    objects: Family<Labels, Gauge>,
    drift_corrections: Family<Labels, Counter>,
    source_errors: Family<Labels, Counter>,
    apply_errors: Family<Labels, Counter>,
    pruned: Family<Labels, Counter>,
    renders: Family<Labels, Counter>,
    source_polls: Family<Labels, Counter>,
    /// The `rudder_sync_info` labels last set per app, to drop the old
    /// series when revision, sync or health change.
    info_labels: Mutex<HashMap<String, Labels>>,
}

impl Metrics {
    pub fn new(cluster: &str, region: &str) -> Self {
        let constant = [
            (Cow::Borrowed("cluster"), Cow::Owned(cluster.to_string())),
            (Cow::Borrowed("region"), Cow::Owned(region.to_string())),
        ];
        let mut registry = Registry::with_labels(constant.into_iter());
        let metrics = Metrics {
            sync_info: Family::default(),
            last_sync: Family::default(),
            last_success: Family::default(),
            sync_duration: Family::new_with_constructor(sync_buckets),
            commit_to_applied: Family::new_with_constructor(commit_buckets),
            objects: Family::default(),
            drift_corrections: Family::default(),
            source_errors: Family::default(),
            apply_errors: Family::default(),
            pruned: Family::default(),
            renders: Family::default(),
            source_polls: Family::default(),
            info_labels: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register(
            "rudder_sync_info",
            "The app's current revision, sync state and health (value 1)",
            metrics.sync_info.clone(),
        );
        registry.register(
            "rudder_last_sync_timestamp_seconds",
            "When the app's last sync attempt ended",
            metrics.last_sync.clone(),
        );
        registry.register(
            "rudder_last_success_timestamp_seconds",
            "When the app's last successful sync ended",
            metrics.last_success.clone(),
        );
        registry.register(
            "rudder_sync_duration_seconds",
            "Duration of sync attempts that rendered and applied",
            metrics.sync_duration.clone(),
        );
        registry.register(
            "rudder_commit_to_applied_seconds",
            "From a commit's time to its objects being applied",
            metrics.commit_to_applied.clone(),
        );
        registry.register(
            "rudder_objects",
            "The app's members by kstatus state",
            metrics.objects.clone(),
        );
        registry.register(
            "rudder_drift_corrections",
            "Members re-applied because someone else changed or deleted them",
            metrics.drift_corrections.clone(),
        );
        registry.register(
            "rudder_source_errors",
            "Failed Git ref listings or fetches, by error code",
            metrics.source_errors.clone(),
        );
        registry.register(
            "rudder_apply_errors",
            "Objects that failed to apply or prune, by failure class",
            metrics.apply_errors.clone(),
        );
        registry.register("rudder_pruned", "Objects pruned", metrics.pruned.clone());
        registry.register(
            "rudder_renders",
            "Renders of an app's overlay",
            metrics.renders.clone(),
        );
        registry.register(
            "rudder_source_polls",
            "Git ref listings, by result (same, new, error)",
            metrics.source_polls.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    fn app(app: &str) -> Labels {
        vec![("app", app.to_string())]
    }

    /// Sets `rudder_sync_info` for `app`, dropping its previous series.
    pub fn set_info(&self, app: &str, revision: &str, sync: &str, health: &str) {
        let labels: Labels = vec![
            ("app", app.to_string()),
            ("revision", revision.to_string()),
            ("sync", sync.to_string()),
            ("health", health.to_string()),
        ];
        let mut last = self.info_labels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = last.insert(app.to_string(), labels.clone())
            && old != labels
        {
            self.sync_info.remove(&old);
        }
        self.sync_info.get_or_create(&labels).set(1);
    }

    /// One finished sync attempt that rendered and applied.
    pub fn record_attempt(&self, app: &str, ended_unix: f64, seconds: f64, succeeded: bool) {
        let labels = Self::app(app);
        self.last_sync.get_or_create(&labels).set(ended_unix);
        if succeeded {
            self.last_success.get_or_create(&labels).set(ended_unix);
        }
        self.sync_duration.get_or_create(&labels).observe(seconds);
    }

    /// A revision was recorded as applied without a sync (its commit did
    /// not touch the app's files): still a successful attempt.
    pub fn record_unchanged(&self, app: &str, ended_unix: f64) {
        let labels = Self::app(app);
        self.last_sync.get_or_create(&labels).set(ended_unix);
        self.last_success.get_or_create(&labels).set(ended_unix);
    }

    pub fn observe_commit_to_applied(&self, app: &str, seconds: f64) {
        self.commit_to_applied
            .get_or_create(&Self::app(app))
            .observe(seconds.max(0.0));
    }

    pub fn set_objects(&self, app: &str, counts: &std::collections::BTreeMap<String, usize>) {
        for state in OBJECT_STATES {
            let labels: Labels = vec![("app", app.to_string()), ("state", state.to_string())];
            let n = counts.get(state).copied().unwrap_or(0);
            self.objects.get_or_create(&labels).set(n as i64);
        }
    }

    pub fn add_drift_correction(&self, app: &str) {
        self.drift_corrections.get_or_create(&Self::app(app)).inc();
    }

    pub fn add_source_error(&self, code: &str) {
        self.source_errors
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    pub fn add_apply_errors(&self, app: &str, class: &str, n: u64) {
        self.apply_errors
            .get_or_create(&vec![
                ("app", app.to_string()),
                ("class", class.to_string()),
            ])
            .inc_by(n);
    }

    pub fn add_pruned(&self, app: &str, n: u64) {
        self.pruned.get_or_create(&Self::app(app)).inc_by(n);
    }

    pub fn add_render(&self, app: &str) {
        self.renders.get_or_create(&Self::app(app)).inc();
    }

    pub fn add_source_poll(&self, result: &'static str) {
        self.source_polls
            .get_or_create(&vec![("result", result.to_string())])
            .inc();
    }

    /// Makes every app's series exist from the start (counters at 0).
    pub fn register_app(&self, app: &str) {
        let labels = Self::app(app);
        let _ = self.drift_corrections.get_or_create(&labels);
        let _ = self.pruned.get_or_create(&labels);
        let _ = self.renders.get_or_create(&labels);
        for class in rudder_reconciler::apply::FailureClass::ALL {
            self.add_apply_errors(app, class.as_str(), 0);
        }
        // Global, but made to exist with the first app, so an alert on
        // them has a series (at 0) before the first error.
        for code in crate::status::ErrorCode::SOURCE {
            let _ = self
                .source_errors
                .get_or_create(&vec![("code", code.as_str().to_string())]);
        }
        self.set_objects(app, &Default::default());
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_carries_cluster_and_region() {
        let m = Metrics::new("rudder-eu-west-1", "eu-west-1");
        m.register_app("shop");
        m.set_info("shop", "abc", "Synced", "Healthy");
        m.record_attempt("shop", 1.0, 0.2, true);
        m.add_source_error("RUD1001");
        let text = m.encode();
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(samples.len() > 10, "{text}");
        for line in samples {
            assert!(
                line.contains(r#"cluster="rudder-eu-west-1""#)
                    && line.contains(r#"region="eu-west-1""#),
                "{line}"
            );
        }
        assert!(text.contains("rudder_drift_corrections_total{"), "{text}");
        assert!(text.contains("rudder_source_errors_total{"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn error_counters_exist_at_zero_before_the_first_error() {
        let m = Metrics::new("c", "r");
        m.register_app("shop");
        let text = m.encode();
        for class in ["transport", "forbidden", "invalid", "conflict", "immutable"] {
            let series = format!(
                r#"rudder_apply_errors_total{{cluster="c",region="r",app="shop",class="{class}"}} 0"#
            );
            assert!(text.contains(&series), "{series} missing:\n{text}");
        }
        for code in ["RUD1001", "RUD1002", "RUD1003", "RUD1004", "RUD1005"] {
            let series =
                format!(r#"rudder_source_errors_total{{cluster="c",region="r",code="{code}"}} 0"#);
            assert!(text.contains(&series), "{series} missing:\n{text}");
        }
    }

    #[test]
    fn sync_info_keeps_one_series_per_app() {
        let m = Metrics::new("c", "r");
        m.set_info("shop", "abc", "Synced", "Healthy");
        m.set_info("shop", "def", "Failed", "Healthy");
        let text = m.encode();
        let info: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("rudder_sync_info{"))
            .collect();
        assert_eq!(info.len(), 1, "{text}");
        assert!(info[0].contains(r#"revision="def""#) && info[0].contains(r#"sync="Failed""#));
    }
}
