//! The `rudder` binary: parses the command line and hands each subcommand to
//! the library that owns it.
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli_output;
mod cluster_args;
mod diff_cmd;
mod http_client;
mod leader;
mod parent_record;
mod reconcile_cmd;
mod render_cmd;
mod run;
mod schema;
mod server;
// A few accessors serve only the source tests (agent/tests/source_git.rs).
#[allow(dead_code, unused_imports)]
mod source;
mod status;
mod status_cmd;
mod suspend_cmd;
mod sync_cmd;
mod tree_cmd;
mod vars_from;
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
    #[command(flatten)]
    logs: LogArgs,
}

/// Logging, the same on every command.
#[derive(clap::Args, Debug, Clone)]
struct LogArgs {
    /// Log format: text or json.
    #[arg(long, global = true, env = "RUDDER_LOG_FORMAT", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log level: error, warn, info, debug or trace (RUDDER_LOG, a full
    /// tracing filter such as info,kube=warn, wins when set).
    #[arg(long, global = true, env = "RUDDER_LOG_LEVEL", value_name = "LEVEL", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
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
    /// What rudder applied in a cluster, one line per app, read from the
    /// ApplySet parents (or an agent's /status with --url). Exit 0 when
    /// every app is Synced and Healthy, 1 otherwise, 2 could not run.
    Status(status_cmd::StatusArgs),
    /// An app's objects with their health, grouped by wave and stage as
    /// they are applied. Exit 0 when every object is Current, 1 otherwise,
    /// 2 could not run.
    Tree(tree_cmd::TreeArgs),
    /// Ask the agent to fetch and sync an app now, and wait for the result
    /// (through an annotation on the app's ApplySet parent, or with --url
    /// through the agent's signed webhook).
    Reconcile(reconcile_cmd::ReconcileArgs),
    /// Suspend an app: the agent neither syncs, heals nor prunes it (it
    /// still fetches and reports what it would apply), until `resume`.
    Suspend(suspend_cmd::SuspendArgs),
    /// Resume a suspended app: the agent syncs it at once.
    Resume(suspend_cmd::SuspendArgs),
    /// Print a shell completion script: bash, zsh or fish.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        one_malloc_arena();
    }
    if let Err(error) = init_logs(&cli.logs) {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Render(args) => report(render_cmd::run(&args).map(|()| ExitCode::SUCCESS), 1),
        Command::Version => {
            println!("rudder {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Sync(args) => report(with_runtime(sync_cmd::run(&args)), 1),
        // `kubectl diff` exits 2 on error; so does rudder diff.
        Command::Diff(args) => report(with_runtime(diff_cmd::run(&args)), 2),
        Command::Vet(args) => report(vet_cmd::run(&args), 2),
        Command::Run(args) => report(with_runtime(run::run(*args)), 1),
        Command::Status(args) => report(with_runtime(status_cmd::run(&args)), 2),
        Command::Tree(args) => report(with_runtime(tree_cmd::run(&args)), 2),
        Command::Reconcile(args) => report(with_runtime(reconcile_cmd::run(&args)), 2),
        Command::Suspend(args) => report(with_runtime(suspend_cmd::run(&args, true)), 2),
        Command::Resume(args) => report(with_runtime(suspend_cmd::run(&args, false)), 2),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "rudder", &mut std::io::stdout());
            ExitCode::SUCCESS
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

/// Logs go to stderr: `RUDDER_LOG` (a full `tracing` filter) when set,
/// else `--log-level`; one JSON object per line with `--log-format json`.
fn init_logs(logs: &LogArgs) -> anyhow::Result<()> {
    let filter = match std::env::var("RUDDER_LOG") {
        Ok(filter) if !filter.is_empty() => tracing_subscriber::EnvFilter::try_new(&filter)
            .map_err(|e| anyhow::anyhow!("RUDDER_LOG `{filter}`: {e}"))?,
        _ => tracing_subscriber::EnvFilter::new(&logs.log_level),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if logs.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    Ok(())
}

/// Runs a cluster command on a Tokio runtime.
fn with_runtime<F: Future<Output = anyhow::Result<ExitCode>>>(
    command: F,
) -> anyhow::Result<ExitCode> {
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
