//! `testbed`: the test bed from the command line, to try rudder by hand.
//!
//! `testbed up --clusters 3 --dir DIR` starts the clusters, prints
//! `NAME REGION KUBECONFIG` per cluster once all are ready, and runs until
//! SIGINT or SIGTERM; `testbed down --dir DIR` stops what `up` started there.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use integration_tests::{Fleet, FleetOptions};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "testbed",
    about = "Real Kubernetes control planes on 127.0.0.1, one per region"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start clusters and keep them running until SIGINT or SIGTERM.
    Up {
        #[arg(long, default_value_t = 3)]
        clusters: usize,
        /// Directory for the clusters' state, logs and kubeconfigs.
        #[arg(long)]
        dir: PathBuf,
        /// Write each apiserver's audit log (DIR/NAME/audit.log).
        #[arg(long)]
        audit_log: bool,
    },
    /// Stop the clusters that `up` started in DIR.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
}

const PID_FILE: &str = "testbed.pid";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up {
            clusters,
            dir,
            audit_log,
        } => up(clusters, &dir, audit_log),
        Command::Down { dir } => down(&dir),
    }
}

fn up(clusters: usize, dir: &Path, audit_log: bool) -> anyhow::Result<()> {
    if clusters == 0 {
        bail!("--clusters must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let pid_file = dir.join(PID_FILE);
    if let Some(pid) = running_pid(&pid_file) {
        bail!(
            "a testbed (pid {pid}) is already running in {}; stop it with `testbed down --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    std::fs::write(&pid_file, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let options = FleetOptions {
            clusters,
            dir: Some(dir.clone()),
            audit_log,
        };
        let fleet = tokio::select! {
            fleet = Fleet::start(options) => fleet?,
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        print!("{}", fleet.summary());
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        eprintln!("stopping {} cluster(s)", fleet.clusters.len());
        drop(fleet);
        anyhow::Ok(())
    });
    let _ = std::fs::remove_file(&pid_file);
    result
}

fn running_pid(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Is `pid` running? An exited process its parent has not reaped yet (a
/// zombie) counts as stopped.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z'),
        Err(_) => false,
    }
}

fn down(dir: &Path) -> anyhow::Result<()> {
    let pid_file = dir.join(PID_FILE);
    let Some(pid) = running_pid(&pid_file) else {
        eprintln!("no testbed is running in {}", dir.display());
        return Ok(());
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("could not signal testbed pid {pid}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) {
        if Instant::now() > deadline {
            bail!("testbed pid {pid} did not stop within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("stopped the testbed in {}", dir.display());
    Ok(())
}
