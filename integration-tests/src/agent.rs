//! Running `rudder run` under test: the real binary as a child process on a
//! free loopback port, its `/status` read over plain HTTP, webhook
//! deliveries posted to it, SIGTERM and SIGKILL, and its log for failure
//! messages. Also [`Audit`], which counts one identity's requests in a
//! cluster's audit log. Dropping an [`AgentProcess`] kills it.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Cluster;

/// The arguments of a `rudder run` following `url` for `cluster`'s region
/// (`clusters/{region}`, pruning, polling every `interval`), with its
/// cache in `cache`, then `extra`.
pub fn agent_args(
    url: &str,
    cluster: &Cluster,
    cache: &Path,
    interval: &str,
    extra: &[&str],
) -> Vec<String> {
    let kubeconfig = cluster.rudder_kubeconfig_path().display().to_string();
    let cache = cache.display().to_string();
    let mut args: Vec<String> = [
        "--repo",
        url,
        "--path",
        "clusters/{region}",
        "--region",
        cluster.region(),
        "--cluster",
        cluster.name(),
        "--prune",
        "--interval",
        interval,
        "--kubeconfig",
        &kubeconfig,
        "--cache-dir",
        &cache,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// [`agent_args`] turned into the apps-file form: `--apps FILE` instead of
/// `--path` and `--prune` (each app of the file says whether it prunes).
pub fn with_apps_file(mut args: Vec<String>, apps: &Path) -> Vec<String> {
    if let Some(at) = args.iter().position(|a| a == "--path") {
        args.drain(at..at + 2);
    }
    args.retain(|a| a != "--prune");
    args.extend(["--apps".to_string(), apps.display().to_string()]);
    args
}

/// A running `rudder run`.
pub struct AgentProcess {
    pub name: String,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

/// A free port on 127.0.0.1 (free when asked; the agent binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl AgentProcess {
    /// Starts `binary run ARGS --listen 127.0.0.1:PORT`, logging to
    /// `dir/NAME.log`.
    pub fn start(
        binary: impl AsRef<Path>,
        name: &str,
        args: &[String],
        dir: &Path,
    ) -> AgentProcess {
        Self::start_with_env(binary, name, args, &[], dir)
    }

    /// [`AgentProcess::start`] with extra environment variables (e.g. the
    /// `RUDDER_*` settings a Deployment gives the container).
    pub fn start_with_env(
        binary: impl AsRef<Path>,
        name: &str,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> AgentProcess {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("the agent's log file");
        let err = out.try_clone().expect("the agent's log file");
        let child = Command::new(binary.as_ref())
            .arg("run")
            .args(args)
            .arg("--listen")
            .arg(addr.to_string())
            .env("NO_COLOR", "1")
            .env("RUDDER_LOG", "info,kube=warn,tower=warn,hyper=warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("rudder starts");
        AgentProcess {
            name: name.to_string(),
            child,
            addr,
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET /status` as JSON; `None` while nothing answers.
    pub fn status(&self) -> Option<Value> {
        let (code, body) = request(self.addr, "GET", "/status", &[], b"")?;
        (code == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// `GET path`: status code and body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        request(self.addr, "GET", path, &[], b"")
    }

    /// `POST path` with headers and body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String)> {
        request(self.addr, "POST", path, headers, body)
    }

    /// Polls `/status` until `ready` holds for it, or panics after
    /// `timeout` with the last status and the log's tail.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(status) = self.status() {
                if ready(&status) {
                    return status;
                }
                last = Some(status);
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: not {what} within {timeout:?}\n--- last /status\n{}\n--- log tail\n{}",
                    self.name,
                    last.map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
                        .unwrap_or_else(|| "(no answer)".into()),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, as a crashed pod.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request over loopback (`Connection: close`); `None` when
/// nothing answers.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A finished command's exit code, stdout and stderr, for an assertion's
/// message.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// HMAC-SHA256 in hex, as a webhook sender computes it: written out here
/// from RFC 2104 for keys up to one block, so the agent's own
/// implementation is never used to check itself.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    assert!(key.len() <= 64, "test keys fit in one block");
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&outer)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Requests by one identity in a cluster's audit log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    /// Everything but the long-running WATCH requests of the drift watches.
    pub non_watch: usize,
    pub writes: usize,
    pub watches: usize,
}

/// One write in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditWrite {
    pub verb: String,
    /// The resource, e.g. `configmaps`.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// When the apiserver received it (RFC 3339 with microseconds, so
    /// string order is time order).
    pub received: String,
}

/// A cluster's audit log (the test bed writes one per cluster on request).
pub struct Audit {
    pub path: PathBuf,
}

impl Audit {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Audit { path: path.into() }
    }

    /// Where the log ends now.
    pub fn offset(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// `user`'s requests since `offset`, each once, in log order.
    fn events(&self, offset: u64, user: &str) -> Vec<Value> {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            let _ = file.seek(SeekFrom::Start(offset));
            let _ = file.read_to_string(&mut text);
        }
        let mut seen = BTreeSet::new();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event.pointer("/user/username").and_then(Value::as_str) == Some(user))
            .filter(|event| seen.insert(event["auditID"].as_str().unwrap_or_default().to_string()))
            .collect()
    }

    /// `user`'s writes since `offset`, in the order the apiserver received
    /// them.
    pub fn writes(&self, offset: u64, user: &str) -> Vec<AuditWrite> {
        let text = |event: &Value, pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut writes: Vec<AuditWrite> = self
            .events(offset, user)
            .iter()
            .filter(|event| {
                matches!(
                    event["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete" | "deletecollection")
                )
            })
            .map(|event| AuditWrite {
                verb: text(event, "/verb").unwrap_or_default(),
                resource: text(event, "/objectRef/resource").unwrap_or_default(),
                namespace: text(event, "/objectRef/namespace"),
                name: text(event, "/objectRef/name"),
                received: text(event, "/requestReceivedTimestamp").unwrap_or_default(),
            })
            .collect();
        writes.sort_by(|a, b| a.received.cmp(&b.received));
        writes
    }

    /// What `user` asked for since `offset`.
    pub fn since(&self, offset: u64, user: &str) -> Requests {
        let mut requests = Requests::default();
        for event in self.events(offset, user) {
            match event["verb"].as_str().unwrap_or_default() {
                "watch" => requests.watches += 1,
                verb => {
                    requests.non_watch += 1;
                    if matches!(
                        verb,
                        "create" | "update" | "patch" | "delete" | "deletecollection"
                    ) {
                        requests.writes += 1;
                    }
                }
            }
        }
        requests
    }
}
