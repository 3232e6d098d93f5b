//! Real Git servers on 127.0.0.1 for the source and end-to-end tests.
//!
//! [`FleetRepo`] is a bare repository plus a work clone driven with the
//! `git` CLI; [`GitDaemon`] serves it over `git://` with `git daemon`;
//! [`GitHttp`] over HTTP with basic auth, through `git http-backend` as CGI
//! behind a small HTTP/1.1 server written here (and it records every
//! request, so a test can tell a ref listing from a pack fetch); [`GitSsh`]
//! over SSH with Debian's `sshd`, its own host key and an authorized client
//! key. Each server is stopped when its handle is dropped, and the
//! processes run under the test bed's supervisor, so none outlives the test
//! binary.
//!
//! These helpers panic on failure: they are test fixtures, and a panic with
//! the server's log is the most useful report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::process::{Supervised, tail};

const REPO_NAME: &str = "fleet.git";
const SSHD: &str = "/usr/sbin/sshd";
const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// Runs `git args...` in `dir` with no user or system configuration, and
/// returns its trimmed stdout; panics with stderr on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fleet repository: a bare repository (what the servers serve) and a
/// work clone that tests write, commit and push from.
pub struct FleetRepo {
    dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl Default for FleetRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl FleetRepo {
    /// An empty repository whose default branch is `main`.
    pub fn new() -> FleetRepo {
        let dir = tempfile::Builder::new()
            .prefix("rudder-fleet-")
            .tempdir()
            .expect("temp dir");
        let bare = dir.path().join("srv").join(REPO_NAME);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, &["init", "--quiet", "--bare", "-b", "main"]);
        git(&work, &["init", "--quiet", "-b", "main"]);
        git(&work, &["config", "user.name", "Rudder Tests"]);
        git(&work, &["config", "user.email", "tests@rudder.invalid"]);
        git(&work, &["config", "core.symlinks", "true"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        FleetRepo { dir, bare, work }
    }

    /// Writes (creating directories) a file of the work clone.
    pub fn write(&self, path: &str, content: &str) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, content).unwrap();
    }

    /// Makes `path` a symlink to `target` (taken as is, e.g. `../x`).
    pub fn symlink(&self, path: &str, target: &str) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p).unwrap();
    }

    /// Removes a file or directory of the work clone.
    pub fn remove(&self, path: &str) {
        let p = self.work.join(path);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }

    /// Commits everything and pushes it to the bare repository's `main`;
    /// returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        );
        git(
            &self.work,
            &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Writes every file under `dir` into the work clone at the same
    /// relative path (an example fleet, say), in name order.
    pub fn write_tree(&self, dir: &Path) {
        fn walk(repo: &FleetRepo, root: &Path, dir: &Path) {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .map(|entry| entry.expect("a directory entry").path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    walk(repo, root, &path);
                    continue;
                }
                let content = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let relative = path.strip_prefix(root).expect("under the root");
                repo.write(&relative.to_string_lossy(), &content);
            }
        }
        walk(self, dir, dir);
    }

    /// The commit `main` of the bare repository names (what the servers
    /// serve), after pushes from anywhere.
    pub fn served_head(&self) -> String {
        git(&self.bare, &["rev-parse", "--verify", "refs/heads/main"])
    }

    /// Tags the work clone's HEAD (an annotated tag) and pushes the tag.
    pub fn tag(&self, name: &str) {
        git(&self.work, &["tag", "-a", name, "-m", name]);
        git(
            &self.work,
            &["push", "--quiet", "origin", &format!("refs/tags/{name}")],
        );
    }

    /// The bare repository.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// The work clone.
    pub fn work_path(&self) -> &Path {
        &self.work
    }

    /// A scratch directory that lives as long as the repository (logs,
    /// keys, configuration of the servers).
    fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// A port nobody listens on right now (the kernel's pick; a race with
/// another process binding it in between is possible but unlikely).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

fn wait_listening(port: u16, what: &str, log: &Path, process: &mut Supervised) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = process.exited() {
            panic!("{what} exited with {status}:\n{}", tail(log, 30));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port}:\n{}",
        tail(log, 30)
    );
}

/// `git daemon` serving the fleet repository over `git://`.
pub struct GitDaemon {
    base: PathBuf,
    port: u16,
    log: PathBuf,
    process: Option<Supervised>,
}

impl GitDaemon {
    pub fn start(repo: &FleetRepo) -> GitDaemon {
        let mut d = GitDaemon {
            base: repo.bare.parent().unwrap().to_path_buf(),
            port: free_port(),
            log: repo.scratch("git-daemon").join("daemon.log"),
            process: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        // The dashed program itself: `git daemon` would run it as a child
        // that outlives the `git` the supervisor kills.
        let exec_path = git(&self.base, &["--exec-path"]);
        let daemon = Path::new(&exec_path).join("git-daemon");
        let args = vec![
            "--listen=127.0.0.1".to_string(),
            format!("--port={}", self.port),
            "--reuseaddr".into(),
            "--export-all".into(),
            "--informative-errors".into(),
            format!("--base-path={}", self.base.display()),
            self.base.display().to_string(),
        ];
        let mut p = Supervised::spawn("git-daemon", &daemon, &args, &self.log)
            .expect("starting git daemon");
        wait_listening(self.port, "git daemon", &self.log, &mut p);
        self.process = Some(p);
    }

    /// `git://127.0.0.1:PORT/fleet.git`
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{REPO_NAME}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the daemon; [`GitDaemon::restart`] brings it back on the same
    /// port.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
        // Until the port is closed a client could still reach it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// A small HTTP/1.1 server in front of `git http-backend`, requiring basic
/// auth. One thread accepts, one thread serves each connection (closed
/// after one response: libgit2 reconnects as needed).
pub struct GitHttp {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    acceptor: Option<JoinHandle<()>>,
}

struct HttpConfig {
    root: PathBuf,
    authorization: String,
    user: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl GitHttp {
    pub fn start(repo: &FleetRepo, user: &str, password: &str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let config = Arc::new(HttpConfig {
            root: repo.bare.parent().unwrap().to_path_buf(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            user: user.to_string(),
            requests: requests.clone(),
        });
        let stopping = stop.clone();
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &config);
                });
            }
        });
        GitHttp {
            port,
            stop,
            requests,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT/fleet.git`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{REPO_NAME}", self.port)
    }

    /// `METHOD /path?query` of each authorized request passed to `git
    /// http-backend`, in order (requests refused with 401 are not listed).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// How many pack fetches (`POST .../git-upload-pack`) were served.
    pub fn pack_fetches(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("POST ") && r.contains("/git-upload-pack"))
            .count()
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves one request on `stream`.
fn serve(stream: TcpStream, config: &HttpConfig) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    if header("authorization").as_deref() != Some(config.authorization.as_str()) {
        let text = "authentication required\n";
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"rudder-tests\"\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return out.flush();
    }
    config
        .requests
        .lock()
        .unwrap()
        .push(format!("{method} {target}"));
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cmd = Command::new(HTTP_BACKEND);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", &config.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &config.user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    if let Some(v) = header("content-type") {
        cmd.env("CONTENT_TYPE", v);
    }
    // git http-backend inflates a gzip'd body itself when told so.
    if let Some(v) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    if let Some(v) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    // Feed the body from another thread: the backend may write a large
    // answer before reading all of it.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = feeder.join();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        let text = format!(
            "git http-backend gave no CGI headers: {}\n",
            String::from_utf8_lossy(&output.stderr)
        );
        write!(
            out,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return out.flush();
    };
    let cgi_headers = String::from_utf8_lossy(&raw[..end]).to_string();
    let content = &raw[end + sep..];
    let mut status = "200 OK".to_string();
    let mut response_headers = String::new();
    for h in cgi_headers.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some((k, v)) => response_headers.push_str(&format!("{k}: {}\r\n", v.trim())),
            None => {}
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    )?;
    out.write_all(content)?;
    out.flush()
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

/// Debian's `sshd` serving the fleet repository over SSH, with its own host
/// key and one authorized client key, both generated here.
pub struct GitSsh {
    dir: PathBuf,
    port: u16,
    user: String,
    bare: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    process: Option<Supervised>,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "rudder-tests", "-f"])
        .arg(path)
        .output()
        .expect("running ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).expect("reading a public key");
    // `type base64 comment` → `type base64`
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl GitSsh {
    pub fn start(repo: &FleetRepo) -> GitSsh {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is absent: install Debian's openssh-server (scripts/test.sh does)"
        );
        let dir = repo.scratch("sshd");
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        let other_key = dir.join("other_ed25519");
        for k in [&host_key, &client_key, &other_key] {
            if !k.exists() {
                keygen(k);
            }
        }
        std::fs::write(
            dir.join("authorized_keys"),
            format!("{}\n", public_key(&client_key)),
        )
        .unwrap();
        // sshd refuses to start without its privilege-separation directory,
        // which Debian creates only when the ssh service starts.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nLogLevel VERBOSE\n",
                hk = host_key.display(),
                d = dir.display(),
            ),
        )
        .unwrap();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public_key(&host_key)),
        )
        .unwrap();
        let user = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .expect("id -un");
        let mut s = GitSsh {
            dir,
            port,
            user,
            bare: repo.bare.clone(),
            client_key,
            known_hosts,
            process: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = self.dir.join("sshd.log");
        let args = vec![
            "-D".to_string(),
            "-e".into(),
            "-f".into(),
            self.dir.join("sshd_config").display().to_string(),
        ];
        let mut p = Supervised::spawn("sshd", Path::new(SSHD), &args, &log).expect("starting sshd");
        wait_listening(self.port, "sshd", &log, &mut p);
        self.process = Some(p);
    }

    /// `ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH/TO/fleet.git`
    pub fn url(&self) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.bare.display()
        )
    }

    /// The private key sshd accepts.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// A known_hosts file with this server's key for `[127.0.0.1]:PORT`.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// A known_hosts file listing another key for this server.
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let path = self.dir.join("wrong_known_hosts");
        let other = public_key(&self.dir.join("other_ed25519"));
        std::fs::write(&path, format!("[127.0.0.1]:{} {other}\n", self.port)).unwrap();
        path
    }

    /// A private key sshd does not accept.
    pub fn unauthorized_key(&self) -> PathBuf {
        self.dir.join("other_ed25519")
    }

    /// sshd's log so far (for failure messages).
    pub fn log(&self) -> String {
        tail(&self.dir.join("sshd.log"), 40)
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for GitSsh {
    fn drop(&mut self) {
        self.stop();
    }
}
