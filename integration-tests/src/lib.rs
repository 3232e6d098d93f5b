//! rudder's test bed: real Kubernetes control planes, several at once, one per
//! region, built from Go modules and started on 127.0.0.1.
//!
//! [`controlplane`] builds (or finds in its cache) the pinned binaries;
//! [`Cluster`] starts one isolated cluster (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok with one simulated Node);
//! [`Fleet`] starts several at once with region names. Every process is
//! supervised through a lifeline pipe, so nothing outlives the test binary
//! even when it is killed, and dropping a handle stops its processes and
//! removes its directories.
#![forbid(unsafe_code)]

pub mod agent;
pub mod bench_set;
pub mod cluster;
pub mod controlplane;
pub mod demo;
pub mod fleet;
pub mod git_server;
mod pki;
mod process;
pub mod versions;

pub use cluster::{Cluster, ClusterOptions};
pub use fleet::{Fleet, FleetOptions, REGIONS};

/// What can go wrong while building or starting the test bed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("building the control plane failed: {0}")]
    Build(String),
    #[error(
        "{component} of cluster {cluster} did not start: {reason}\n--- last lines of {log} ---\n{tail}"
    )]
    Startup {
        cluster: String,
        component: String,
        reason: String,
        log: String,
        tail: String,
    },
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = TestbedError> = std::result::Result<T, E>;

pub(crate) fn io_context(
    context: impl Into<String>,
) -> impl FnOnce(std::io::Error) -> TestbedError {
    let context = context.into();
    move |source| TestbedError::Io { context, source }
}
