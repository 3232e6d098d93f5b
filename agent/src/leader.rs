//! Leader election on a `coordination.k8s.io` Lease, for several replicas
//! of one agent: only the leader fetches and writes. A standby takes over
//! once the leader has not renewed for the lease duration (15 s, checked
//! every 2 s, so within 20 s of the leader dying). On shutdown the leader
//! releases the Lease so a standby takes over at once.
//!
//! Like client-go, expiry is judged by this replica's own clock: a record
//! (holder and renew time) that has not changed for a lease duration since
//! we first saw it is expired, so replicas never compare clocks.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::status::{Board, rfc3339_micros};

pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// A Lease record as this replica judges it: holder and renew time.
type LeaseRecord = (Option<String>, Option<String>);

pub struct Elector {
    client: kube::Client,
    namespace: String,
    api: Api<Lease>,
    name: String,
    identity: String,
    board: Board,
    /// The last record seen (holder, renew time) and when it was first seen.
    observed: Option<(LeaseRecord, Instant)>,
}

impl Elector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        board: Board,
    ) -> Self {
        Elector {
            api: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            board,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
                    return;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "leader election: reading the Lease failed; retrying")
                }
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// Renews the Lease until it cannot for a lease duration; returns then
    /// (leadership is lost).
    pub async fn keep(&mut self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "another replica took the Lease");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "renewing the Lease failed");
                    if last_renewal.elapsed() >= LEASE_DURATION {
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (holder cleared) so a standby takes over at once.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released the Lease"),
            Err(error) => tracing::warn!(%error, lease = %self.name, "could not release the Lease"),
        }
    }

    /// One round: take the Lease if free or expired, renew it if ours.
    /// `Ok(true)`: we hold it now.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = rfc3339_micros(std::time::SystemTime::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease: Lease = serde_json::from_value(serde_json::json!({
                "metadata": {"name": self.name},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": LEASE_DURATION.as_secs(),
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": 0,
                }
            }))
            .expect("a valid Lease");
            let mut created = self.api.create(&PostParams::default(), &lease).await;
            if matches!(&created, Err(kube::Error::Api(status)) if status.code == 404) {
                // The first replica on a fresh cluster: no namespace yet.
                self.create_namespace().await?;
                created = self.api.create(&PostParams::default(), &lease).await;
            }
            return match created {
                Ok(_) => {
                    self.set_holder(Some(self.identity.clone()), true);
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| format!("{t:?}")),
        );
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
        let expired = match &self.observed {
            Some((seen, since)) if *seen == record => since.elapsed() >= duration,
            _ => {
                self.observed = Some((record, Instant::now()));
                false
            }
        };
        if !(ours || holder.is_none() || expired) {
            self.set_holder(holder, false);
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquire = if ours {
            serde_json::to_value(&spec.acquire_time).unwrap_or_default()
        } else {
            serde_json::Value::String(now.clone())
        };
        let new_spec = serde_json::from_value(serde_json::json!({
            "holderIdentity": self.identity,
            "leaseDurationSeconds": LEASE_DURATION.as_secs(),
            "acquireTime": acquire,
            "renewTime": now,
            "leaseTransitions": transitions,
        }))
        .expect("a valid LeaseSpec");
        lease.spec = Some(new_spec);
        lease.metadata = ObjectMeta {
            name: lease.metadata.name.clone(),
            namespace: lease.metadata.namespace.clone(),
            resource_version: lease.metadata.resource_version.clone(),
            ..ObjectMeta::default()
        };
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.set_holder(Some(self.identity.clone()), true);
                Ok(true)
            }
            // Someone else wrote first: judge again next round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_namespace(&self) -> Result<(), kube::Error> {
        use k8s_openapi::api::core::v1::Namespace;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": self.namespace}
        }))
        .expect("a valid Namespace");
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn set_holder(&self, holder: Option<String>, leading: bool) {
        self.board.update(|s| {
            s.leader.holder = holder;
            s.leader.leading = leading;
        });
        // A standby knows who leads: it is ready in its role.
        if !leading {
            self.board.set_ready();
        }
    }
}

/// This replica's identity: `$POD_NAME` or the host name, with the pid.
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "rudder".into());
    format!("{host}_{}", std::process::id())
}
