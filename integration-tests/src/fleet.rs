//! Several clusters at once, one per region, started concurrently.

use std::path::{Path, PathBuf};

use crate::{Cluster, ClusterOptions, Result};

/// Region names given to clusters in order; further clusters get `region-N`.
pub const REGIONS: [&str; 6] = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-1",
    "us-west-2",
    "eu-central-1",
    "ap-northeast-1",
];

/// The region of the `index`-th cluster.
pub fn region(index: usize) -> String {
    REGIONS
        .get(index)
        .map(|r| r.to_string())
        .unwrap_or_else(|| format!("region-{}", index + 1))
}

#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    pub clusters: usize,
    /// Where the clusters' directories go; a fresh temporary directory
    /// (removed on drop) when `None`.
    pub dir: Option<PathBuf>,
    pub audit_log: bool,
}

/// Running clusters; dropping the fleet stops them all.
pub struct Fleet {
    pub clusters: Vec<Cluster>,
    // Declared after `clusters` so the clusters stop before it is removed.
    _tempdir: Option<tempfile::TempDir>,
}

impl Fleet {
    pub async fn start(options: FleetOptions) -> Result<Fleet> {
        let tempdir = match options.dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("rudder-testbed-")
                    .tempdir()
                    .map_err(crate::io_context("creating a temporary directory"))?,
            ),
        };
        let dir: &Path = options
            .dir
            .as_deref()
            .unwrap_or_else(|| tempdir.as_ref().expect("set above").path());
        let starts = (0..options.clusters).map(|i| {
            let region = region(i);
            let mut cluster_options = ClusterOptions::new(format!("rudder-{region}"), region);
            cluster_options.audit_log = options.audit_log;
            Cluster::start(cluster_options, dir)
        });
        // On any failure the clusters that did start are dropped, and stop.
        let clusters = futures::future::join_all(starts)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        Ok(Fleet {
            clusters,
            _tempdir: tempdir,
        })
    }

    /// One line per cluster: `NAME REGION KUBECONFIG`.
    pub fn summary(&self) -> String {
        self.clusters
            .iter()
            .map(|c| {
                format!(
                    "{} {} {}\n",
                    c.name(),
                    c.region(),
                    c.kubeconfig_path().display()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_three_regions_are_the_fleet_defaults_then_numbered() {
        assert_eq!(super::region(0), "us-east-1");
        assert_eq!(super::region(1), "eu-west-1");
        assert_eq!(super::region(2), "ap-southeast-1");
        assert_eq!(super::region(9), "region-10");
    }
}
