//! Waiting for a synced set to become healthy (`rudder sync --wait`): poll
//! the members (one label-selected LIST per kind, as a sync observes them),
//! judge each with [`crate::health`], and stop as soon as the set is Healthy,
//! as soon as it is Degraded (a kstatus `Failed` is terminal until the next
//! change, so waiting longer only delays the bad news), or at the deadline.

use std::time::{Duration, Instant};

use crate::applyset::ApplySetParent;
use crate::health::{AggregateHealth, ObjectHealth, aggregate, object_health_with};
use crate::health_rules::HealthRules;
use crate::live;
use crate::object::ObjectRef;
use crate::target::{Target, TargetError};

/// How often the members are read again while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The health of a set when the wait ended.
#[derive(Debug, Clone)]
pub struct HealthReport {
    pub aggregate: AggregateHealth,
    /// One verdict per member, in the order given.
    pub objects: Vec<(ObjectRef, ObjectHealth)>,
    /// The deadline passed before the set became Healthy or Degraded.
    pub timed_out: bool,
    pub waited: Duration,
}

impl HealthReport {
    /// Members that are not Current, for a person: `Deployment/shop/web:
    /// InProgress: ...`.
    pub fn unhealthy_lines(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|(_, h)| h.status != crate::health::HealthStatus::Current)
            .map(|(r, h)| format!("{r}: {h}"))
            .collect()
    }
}

/// Reads every member once and judges the set (custom `rules` first).
pub async fn observe_health(
    target: &Target,
    parent: &ApplySetParent,
    members: &[ObjectRef],
    rules: &HealthRules,
) -> Result<(AggregateHealth, Vec<(ObjectRef, ObjectHealth)>), TargetError> {
    let live = live::list_members(target, &parent.id(), members).await?;
    let objects: Vec<(ObjectRef, ObjectHealth)> = members
        .iter()
        .map(|reference| {
            let health = live
                .get(&reference.key())
                .as_ref()
                .map(|object| object_health_with(object, rules))
                .unwrap_or_else(ObjectHealth::not_found);
            (reference.clone(), health)
        })
        .collect();
    let overall = aggregate(objects.iter().map(|(_, h)| h));
    Ok((overall, objects))
}

/// Polls until the members are Healthy or Degraded, or `timeout` passes.
/// A failing read is retried until the deadline (the apiserver may be
/// restarting); at the deadline its error is returned.
pub async fn wait_for_health(
    target: &Target,
    parent: &ApplySetParent,
    members: &[ObjectRef],
    rules: &HealthRules,
    timeout: Duration,
) -> Result<HealthReport, TargetError> {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let observed = observe_health(target, parent, members, rules).await;
        let now = Instant::now();
        match observed {
            Ok((overall, objects)) => {
                let settled = overall != AggregateHealth::Progressing;
                if settled || now >= deadline {
                    return Ok(HealthReport {
                        aggregate: overall,
                        objects,
                        timed_out: !settled,
                        waited: now - started,
                    });
                }
            }
            Err(error) if now >= deadline => return Err(error),
            Err(error) => tracing::warn!(%error, "reading member health failed; retrying"),
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(now))).await;
    }
}
