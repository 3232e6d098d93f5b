//! The `rudder` binary: parses the command line and hands each subcommand to
//! the library that owns it.
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cluster_args;
mod diff_cmd;
mod leader;
mod render_cmd;
mod run;
mod schema;
mod server;
// A few accessors serve only the source tests (agent/tests/source_git.rs).
#[allow(dead_code, unused_imports)]
mod source;
mod status;
mod sync_cmd;
mod vet_cmd;

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
    /// The agent: follow a Git repository, keep this region in sync, heal
    /// drift, and serve status, metrics and webhooks over HTTP.
    Run(Box<run::config::RunArgs>),
    /// Check a commit of a fleet repository for every region without a
    /// cluster: render, schema, and (with --base) what would be created,
    /// changed and pruned. Exit 0 all passed, 1 errors found, 2 could not
    /// run.
    Vet(vet_cmd::VetArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render(args) => report(render_cmd::run(&args).map(|()| ExitCode::SUCCESS), 1),
        Command::Version => {
            println!("rudder {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Sync(args) => report(with_runtime(sync_cmd::run(&args), false), 1),
        // `kubectl diff` exits 2 on error; so does rudder diff.
        Command::Diff(args) => report(with_runtime(diff_cmd::run(&args), false), 2),
        Command::Vet(args) => report(vet_cmd::run(&args), 2),
        Command::Run(args) => {
            one_malloc_arena();
            let json = args.log_format == "json";
            report(with_runtime(run::run(*args), json), 1)
        }
    }
}

/// The environment variable that bounds glibc's malloc arenas.
const MALLOC_ARENA_MAX: &str = "MALLOC_ARENA_MAX";

/// Restarts the agent in place (same process id, same arguments) with
/// `MALLOC_ARENA_MAX=1` unless the variable is set already. glibc gives each
/// thread that allocates its own arena and hands little of it back; the
/// agent's tasks move between runtime threads, so each sync leaves freed
/// memory stranded in several arenas, and the agent grew from 36 MiB to
/// 68 MiB RSS over 20 syncs of a thousand objects (48 MiB with one arena;
/// `bench/agent.sh`). glibc reads the variable only at start-up, and setting
/// it from inside needs unsafe code, hence the exec. A user who sets the
/// variable (to any value) keeps it; where exec fails, the agent goes on as
/// it is.
fn one_malloc_arena() {
    use std::os::unix::process::CommandExt;
    if !cfg!(target_env = "gnu") || std::env::var_os(MALLOC_ARENA_MAX).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MALLOC_ARENA_MAX, "1")
        .exec();
    eprintln!(
        "note: running with glibc's default malloc arenas: re-executing with {MALLOC_ARENA_MAX}=1 failed: {error}"
    );
}

/// Runs a cluster command on a Tokio runtime, with logs on stderr
/// (`RUDDER_LOG`, default `info`; one JSON object per line with `json`).
/// `render` needs neither and starts faster without them.
fn with_runtime<F: Future<Output = anyhow::Result<ExitCode>>>(
    command: F,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUDDER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
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
