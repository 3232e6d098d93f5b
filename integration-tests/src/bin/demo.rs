//! `demo`: the README's first command. Three local clusters, the example
//! fleet served from a real Git repository, one `rudder run` per region;
//! see [`integration_tests::demo`]. `scripts/demo.sh` builds and runs it.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use integration_tests::demo::{self, DemoOptions};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "demo",
    about = "A live multi-region rudder fleet on 127.0.0.1: three clusters, one Git repository, one agent per region"
)]
struct Cli {
    /// The rudder binary (default: `rudder` beside this program).
    #[arg(long)]
    rudder: Option<PathBuf>,
    /// The fleet repository's content.
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// Exit 0 once every region is Synced and Healthy (non-zero, with the
    /// reason, if that does not happen within --timeout).
    #[arg(long)]
    until_synced: bool,
    /// Seconds the fleet may take to converge.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// The agents' poll interval (pushes reach them at once by webhook).
    #[arg(long, default_value = "30s")]
    interval: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rudder = cli.rudder.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("rudder")))
            .unwrap_or_else(|| PathBuf::from("rudder"))
    });
    let mut options = DemoOptions::new(rudder);
    if let Some(fleet) = cli.fleet {
        options.fleet = fleet;
    }
    options.until_synced = cli.until_synced;
    options.timeout = Duration::from_secs(cli.timeout);
    options.interval = cli.interval;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let stop = async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        };
        demo::run(options, stop).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
