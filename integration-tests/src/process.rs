//! Supervised child processes that cannot outlive the test bed.
//!
//! Each component runs under a tiny bash supervisor whose standard input is a
//! pipe held open by this process (the lifeline). When the lifeline closes,
//! because the handle was dropped or because this process died in any way,
//! SIGKILL included, the supervisor kills the component. No signal handling
//! or unsafe code is needed on our side.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// Runs "$@" with stdin from /dev/null; kills it when fd 0 (the lifeline)
/// reaches end of file; exits with its status.
const SUPERVISOR: &str = r#"
exec 3<&0 0</dev/null
"$@" &
child=$!
( while read -r _ <&3; do :; done; kill -KILL "$child" 2>/dev/null ) &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// Waits for the lifeline to close, then removes the directory in $1: the
/// clean-up of last resort when the test process was killed.
const JANITOR: &str = r#"
while read -r _; do :; done
sleep 1
rm -rf -- "$1"
"#;

pub struct Supervised {
    pub name: String,
    child: Child,
    lifeline: Option<ChildStdin>,
}

impl Supervised {
    /// Starts `program args...`, appending its stdout and stderr to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(crate::io_context(format!("opening {}", log.display())))?;
        let stderr = log_file
            .try_clone()
            .map_err(crate::io_context(format!("opening {}", log.display())))?;
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(format!("supervise-{name}"))
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(crate::io_context(format!("starting {}", program.display())))?;
        let lifeline = child.stdin.take();
        Ok(Self {
            name: name.to_string(),
            child,
            lifeline,
        })
    }

    /// Starts a janitor that removes `dir` once the lifeline closes.
    pub fn janitor(dir: &Path) -> Result<Self> {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(JANITOR)
            .arg("rudder-testbed-janitor")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(crate::io_context("starting the test-bed janitor"))?;
        let lifeline = child.stdin.take();
        Ok(Self {
            name: "janitor".into(),
            child,
            lifeline,
        })
    }

    /// The exit status, if the component has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the component and waits (bounded) for its supervisor to exit.
    pub fn stop(&mut self) {
        self.lifeline.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The supervisor did not react: kill it, and rely on the lifeline
        // having already been closed for its component.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(start));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    text.push_str(&String::from_utf8_lossy(&bytes));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
