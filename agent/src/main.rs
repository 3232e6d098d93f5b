//! The `rudder` binary: parses the command line and hands each subcommand to
//! the library that owns it.
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster_args;
mod diff_cmd;
mod render_cmd;
#[allow(dead_code, unused_imports)] // wired into `rudder run` by the run loop
mod source;
mod sync_cmd;

/// rudder: a GitOps pull agent for multi-region Kubernetes.
///
/// Follows one Git repository, renders the Kustomize overlay for its own
/// region, server-side-applies it with pruning, heals drift and reports sync
/// health over HTTP.
#[derive(Parser)]
#[command(name = "rudder", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print rudder's version.
    Version,
    /// Render a kustomization as `kubectl kustomize` would.
    Render(render_cmd::RenderArgs),
    /// Render, apply (server-side), prune and optionally wait and watch.
    Sync(sync_cmd::SyncArgs),
    /// Show what `rudder sync` would change (exit 0 none, 1 some, 2 error).
    Diff(diff_cmd::DiffArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render(args) => report(render_cmd::run(&args).map(|()| ExitCode::SUCCESS), 1),
        Command::Version => {
            println!("rudder {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Sync(args) => report(with_runtime(sync_cmd::run(&args)), 1),
        // `kubectl diff` exits 2 on error; so does rudder diff.
        Command::Diff(args) => report(with_runtime(diff_cmd::run(&args)), 2),
    }
}

/// Runs a cluster command on a Tokio runtime, with logs on stderr
/// (`RUDDER_LOG`, default `info`). `render` needs neither and starts faster
/// without them.
fn with_runtime<F: Future<Output = anyhow::Result<ExitCode>>>(
    command: F,
) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUDDER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(command)
}

/// Prints an error as one `error: ...` paragraph (with its causes) and
/// turns it into `code`.
fn report(result: anyhow::Result<ExitCode>, code: u8) -> ExitCode {
    match result {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}
