//! Finding the control-plane binaries: runs `controlplane/build.sh`, which
//! builds them from Go modules on first use and afterwards only returns the
//! cached directory (keyed by the pinned versions, guarded by a lock so that
//! concurrent test processes never corrupt it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{Result, TestbedError};

/// The directory holding kube-apiserver, kube-controller-manager,
/// kube-scheduler, etcd, kwok and kwok's stage definitions.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The build script, inside this crate.
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("controlplane/build.sh")
}

/// Builds the binaries if needed (minutes, once) and returns where they are.
/// The result is memoised for the process.
pub fn ensure() -> Result<Binaries> {
    static BINARIES: OnceLock<std::result::Result<Binaries, String>> = OnceLock::new();
    BINARIES
        .get_or_init(|| run_build_script().map_err(|e| e.to_string()))
        .clone()
        .map_err(TestbedError::Build)
}

fn run_build_script() -> Result<Binaries> {
    let script = build_script();
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(crate::io_context(format!("running {}", script.display())))?;
    if !output.status.success() {
        return Err(TestbedError::Build(format!(
            "{} exited with {} (its error is printed above)",
            script.display(),
            output.status
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| TestbedError::Build(format!("{} printed no directory", script.display())))?;
    Ok(Binaries {
        dir: PathBuf::from(dir),
    })
}
