//! The Git source: follows one repository reference and turns commits into
//! snapshots the renderer reads straight from the object database.
//!
//! [`GitSource`] owns a bare repository in the cache directory (one per
//! repository URL). [`GitSource::resolve`] costs one ref listing and nothing
//! else, so a poll that finds the same commit is cheap;
//! [`GitSource::snapshot`] fetches a commit shallowly only when the cache
//! lacks it, and never checks anything out. [`Snapshot::tree`] is the commit's
//! tree as a renderer [`FileTree`](rudder_render::fs::FileTree);
//! [`render_snapshot`] renders an app's path from it (a kustomization, or
//! every YAML file as Flux does) and reports what it read ([`ReadSet`]), so
//! a later commit that touches none of it needs no render at all.
//!
//! Everything here blocks (libgit2 does): callers run it on
//! `tokio::task::spawn_blocking`. Errors carry stable codes
//! ([`SourceError::code`]) and never contain a credential.

mod auth;
mod dir_mode;
mod known_hosts;
mod reads;
mod tree;
mod url;

use std::fs::File;
use std::path::{Path, PathBuf};

use git2::{AutotagOption, Direction, FetchOptions, Oid, Repository};
use sha2::{Digest as _, Sha256};

pub use dir_mode::{RenderMode, RenderedRevision, render_snapshot};
pub use reads::ReadSet;
pub use tree::GitTree;

/// Where the source is and how to reach it.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// `git://`, `http://`, `https://`, `ssh://user@host:port/path`,
    /// scp-like `user@host:path`, or a local path / `file://`.
    pub repo: String,
    /// A branch (e.g. `main`), a tag, or a full 40-hex commit id.
    pub reference: String,
    /// The bare repository lives under here, one directory per repo URL.
    pub cache_dir: PathBuf,
    pub auth: Auth,
}

/// Credentials for the repository. Secrets are read from files at every
/// connection, so a rotated mounted Secret takes effect without a restart.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// SSH private key file and a known_hosts file, both required; an
    /// unknown or mismatching host key is an error (never trust on first
    /// use).
    Ssh {
        private_key: PathBuf,
        known_hosts: PathBuf,
    },
    /// HTTP(S) basic auth: password (or token) read from a file at every
    /// connection; username `git` when `None` (GitHub/GitLab token style).
    Basic {
        username: Option<String>,
        password_file: PathBuf,
    },
}

/// Why the source could not deliver. Every message names the repository
/// (password stripped), says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "cannot reach Git repository {repo}: {message}; check the URL, the network and that the Git server is up (rudder keeps the cluster as it is and retries)"
    )]
    Unreachable { repo: String, message: String },
    #[error(
        "Git repository {repo} refused the credentials: {message}; check the username, the password or token file, or the SSH key, and that it may read this repository"
    )]
    AuthRefused { repo: String, message: String },
    #[error(
        "cannot verify the identity of Git server {host}: {message}; rudder never trusts a host key on first use"
    )]
    HostKeyUnknown { host: String, message: String },
    #[error(
        "Git repository {repo} has no branch, tag or commit `{reference}`; check the reference (--ref) and that it was pushed"
    )]
    RefMissing { repo: String, reference: String },
    #[error("Git repository {repo}: {message}")]
    Git { repo: String, message: String },
}

impl SourceError {
    /// The stable code alerts and runbooks key on.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Unreachable { .. } => "RUD1001",
            SourceError::AuthRefused { .. } => "RUD1002",
            SourceError::HostKeyUnknown { .. } => "RUD1003",
            SourceError::RefMissing { .. } => "RUD1004",
            SourceError::Git { .. } => "RUD1005",
        }
    }
}

/// One repository reference, followed through a bare cache repository.
pub struct GitSource {
    spec: SourceSpec,
    url: url::RepoUrl,
    /// The bare cache repository. Opened for each snapshot rather than
    /// held: libgit2 keeps the objects it unpacked (megabytes of manifests
    /// per commit) for as long as a repository handle lives.
    path: PathBuf,
    lock_path: PathBuf,
    /// The refs of the last listing, so a snapshot fetches the one ref that
    /// names the commit (a shallow fetch needs a ref or an advertised id).
    advertised: Vec<(String, Oid)>,
}

/// One commit, ready to be read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub revision: String,
    /// Committer time, unix seconds.
    pub commit_time: i64,
    /// The first line of the commit message.
    pub summary: String,
    repo_path: PathBuf,
    repo_shown: String,
    tree_id: Oid,
}

impl Snapshot {
    /// The commit's tree as a renderer file tree (blobs read from the object
    /// database; symlinks resolved inside the tree).
    pub fn tree(&self) -> Result<GitTree, SourceError> {
        GitTree::open(&self.repo_path, self.tree_id).map_err(|e| SourceError::Git {
            repo: self.repo_shown.clone(),
            message: format!("cannot read the cache repository: {}", e.message()),
        })
    }

    /// The id of the commit's root tree.
    pub fn tree_id(&self) -> String {
        self.tree_id.to_string()
    }

    /// The bare cache repository the snapshot reads from.
    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// A commit of the local repository at (or above) `dir`, a work clone
    /// or a bare one, read from its object database: nothing is checked
    /// out and the work tree is not looked at. `revision` is anything `git
    /// rev-parse` takes (`HEAD`, `main`, `HEAD~1`, a tag, an id). What
    /// `rudder vet` renders.
    pub fn local(dir: &Path, revision: &str) -> Result<Snapshot, SourceError> {
        let shown = dir.display().to_string();
        let git = |message: String| SourceError::Git {
            repo: shown.clone(),
            message,
        };
        let repo = Repository::discover(dir).map_err(|e| {
            git(format!(
                "not a Git repository (nor inside one): {}; rudder reads commits, so run it on a clone of the fleet repository",
                e.message()
            ))
        })?;
        let commit = repo
            .revparse_single(revision)
            .and_then(|object| object.peel_to_commit())
            .map_err(|_| SourceError::RefMissing {
                repo: shown.clone(),
                reference: revision.to_string(),
            })?;
        // A linked work tree keeps its objects in the common directory.
        Ok(Snapshot::of(&commit, repo.commondir(), &shown))
    }

    fn of(commit: &git2::Commit<'_>, repo_path: &Path, repo_shown: &str) -> Snapshot {
        let summary = String::from_utf8_lossy(commit.message_bytes())
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        Snapshot {
            revision: commit.id().to_string(),
            commit_time: commit.time().seconds(),
            summary,
            repo_path: repo_path.to_path_buf(),
            repo_shown: repo_shown.to_string(),
            tree_id: commit.tree_id(),
        }
    }
}

impl GitSource {
    /// Opens (or creates) the cache repository for `spec.repo`. No network.
    pub fn open(spec: SourceSpec) -> Result<GitSource, SourceError> {
        let url = url::RepoUrl::parse(&spec.repo);
        let cache_error = |what: &str, e: &dyn std::fmt::Display| SourceError::Git {
            repo: url.shown.clone(),
            message: format!(
                "cannot {what} the cache repository under {}: {e}; check that the cache directory is writable",
                spec.cache_dir.display()
            ),
        };
        std::fs::create_dir_all(&spec.cache_dir).map_err(|e| cache_error("create", &e))?;
        // One directory per URL (credentials stripped), named by its hash:
        // URLs hold characters no file name may.
        let digest = Sha256::digest(url.shown.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let path = spec.cache_dir.join(format!("{name}.git"));
        let lock_path = spec.cache_dir.join(format!("{name}.lock"));
        let lock = lock(&lock_path).map_err(|e| cache_error("lock", &e))?;
        if path.join("HEAD").exists() {
            Repository::open_bare(&path).map_err(|e| cache_error("open", &e.message()))?
        } else {
            Repository::init_bare(&path).map_err(|e| cache_error("create", &e.message()))?
        };
        drop(lock);
        Ok(GitSource {
            spec,
            url,
            path,
            lock_path,
            advertised: Vec::new(),
        })
    }

    /// The repository URL with any password stripped, as errors show it.
    pub fn shown_url(&self) -> &str {
        &self.url.shown
    }

    /// The commit id the reference names now: one ref listing, no object
    /// fetch. A full commit id needs no network at all.
    pub fn resolve(&mut self) -> Result<String, SourceError> {
        let reference = self.spec.reference.trim();
        if is_full_id(reference) {
            return Ok(reference.to_ascii_lowercase());
        }
        let heads = self.list_remote()?;
        let found = pick_ref(&heads, reference);
        self.advertised = heads;
        match found {
            Some((_, oid)) => Ok(oid.to_string()),
            None => Err(SourceError::RefMissing {
                repo: self.url.shown.clone(),
                reference: reference.to_string(),
            }),
        }
    }

    /// The commit's snapshot: fetched shallowly (depth 1) only when the
    /// cache lacks it, then read (no checkout, no work tree).
    pub fn snapshot(&mut self, commit: &str) -> Result<Snapshot, SourceError> {
        let oid = Oid::from_str(commit)
            .ok()
            .filter(|_| is_full_id(commit))
            .ok_or_else(|| SourceError::Git {
                repo: self.url.shown.clone(),
                message: format!("`{commit}` is not a full commit id (40 hex digits)"),
            })?;
        let repo = Repository::open_bare(&self.path).map_err(|e| SourceError::Git {
            repo: self.url.shown.clone(),
            message: format!(
                "cannot open the cache repository {}: {}",
                self.path.display(),
                e.message()
            ),
        })?;
        if repo.find_commit(oid).is_err() {
            self.fetch_commit(&repo, oid)?;
        }
        let c = repo.find_commit(oid).map_err(|_| SourceError::RefMissing {
            repo: self.url.shown.clone(),
            reference: commit.to_string(),
        })?;
        Ok(Snapshot::of(&c, repo.path(), &self.url.shown))
    }

    /// `git ls-remote`: connect, list, disconnect.
    fn list_remote(&self) -> Result<Vec<(String, Oid)>, SourceError> {
        let attempt = auth::Attempt::default();
        let mut remote = git2::Remote::create_detached(self.spec.repo.as_str())
            .map_err(|e| self.classify(&attempt, &e))?;
        let callbacks = auth::callbacks(&self.spec.auth, &self.url, &attempt);
        let connection = remote
            .connect_auth(Direction::Fetch, Some(callbacks), None)
            .map_err(|e| self.classify(&attempt, &e))?;
        let heads = connection
            .list()
            .map_err(|e| self.classify(&attempt, &e))?
            .iter()
            .map(|h| (h.name().to_string(), h.oid()))
            .collect();
        Ok(heads)
    }

    /// Brings `oid` into the cache: the advertised ref naming it, shallowly;
    /// else the id itself (servers that allow it); else every branch and tag
    /// with full history (an old commit no ref names at its tip).
    fn fetch_commit(&mut self, repo: &Repository, oid: Oid) -> Result<(), SourceError> {
        let _lock = lock(&self.lock_path).map_err(|e| SourceError::Git {
            repo: self.url.shown.clone(),
            message: format!("cannot lock {}: {e}", self.lock_path.display()),
        })?;
        // Another source on the same cache may have fetched it meanwhile.
        if repo.find_commit(oid).is_ok() {
            return Ok(());
        }
        // A commit id given as the reference was never listed: a ref may
        // still name it at its tip, which can be fetched shallowly where an
        // id alone cannot (libgit2 refuses ids unless the server allows
        // them).
        if self.advertised_name(oid).is_none() {
            self.advertised = self.list_remote()?;
        }
        if let Some(name) = self.advertised_name(oid) {
            let local = format!("refs/rudder/{}", name.trim_start_matches("refs/"));
            self.fetch(repo, &[format!("+{name}:{local}")], 1)?;
            if repo.find_commit(oid).is_ok() {
                return Ok(());
            }
        }
        match self.fetch(repo, &[format!("+{oid}:refs/rudder/commits/{oid}")], 1) {
            Ok(()) if repo.find_commit(oid).is_ok() => return Ok(()),
            // Servers speaking protocol v0 refuse ids they do not advertise;
            // only a failure to talk to the server at all ends the search.
            Err(e @ SourceError::Git { .. }) => {
                tracing::debug!(error = %e, "fetching the commit id directly failed; fetching every branch and tag");
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let depth = if repo.is_shallow() {
            // libgit2's GIT_FETCH_DEPTH_UNSHALLOW.
            i32::MAX
        } else {
            0
        };
        self.fetch(
            repo,
            &[
                "+refs/heads/*:refs/rudder/heads/*".to_string(),
                "+refs/tags/*:refs/rudder/tags/*".to_string(),
            ],
            depth,
        )
    }

    fn advertised_name(&self, oid: Oid) -> Option<String> {
        self.advertised
            .iter()
            .find(|(name, id)| *id == oid && name.starts_with("refs/"))
            .map(|(name, _)| name.trim_end_matches("^{}").to_string())
    }

    fn fetch(&self, repo: &Repository, refspecs: &[String], depth: i32) -> Result<(), SourceError> {
        let attempt = auth::Attempt::default();
        let mut remote = repo
            .remote_anonymous(&self.spec.repo)
            .map_err(|e| self.classify(&attempt, &e))?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(auth::callbacks(&self.spec.auth, &self.url, &attempt))
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        // libgit2's local transport cannot fetch shallowly; a local
        // repository costs no network anyway.
        if depth != 0 && !self.url.local {
            options.depth(depth);
        }
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|e| self.classify(&attempt, &e))
    }

    fn classify(&self, attempt: &auth::Attempt, e: &git2::Error) -> SourceError {
        attempt.classify(&self.url, e)
    }
}

/// Picks the commit a reference names from a ref listing: a full ref name
/// as given; else the branch; else the tag (peeled to its commit). A branch
/// wins over a tag of the same name because following a branch is what a
/// GitOps reference means nearly always.
fn pick_ref(heads: &[(String, Oid)], reference: &str) -> Option<(String, Oid)> {
    let find = |name: &str| {
        heads
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, o)| (n.clone(), *o))
    };
    let tag = |name: &str| find(&format!("{name}^{{}}")).or_else(|| find(name));
    if reference == "HEAD" {
        return find("HEAD");
    }
    if reference.starts_with("refs/tags/") {
        return tag(reference);
    }
    if reference.starts_with("refs/") {
        return find(reference);
    }
    find(&format!("refs/heads/{reference}")).or_else(|| tag(&format!("refs/tags/{reference}")))
}

fn is_full_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How long a source waits for another fetch into the same cache. Bounded
/// because libgit2 cannot be given a network timeout here (its option
/// setters are `unsafe`, which this crate forbids), so a fetch stuck on a
/// silent server must not wedge every later attempt.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// An exclusive lock on `path` (created if absent), released when the file
/// is dropped: keeps two sources on one cache from writing it at once.
fn lock(path: &Path) -> std::io::Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(format!(
                    "another fetch into this cache has held it for {} s",
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn branches_win_over_tags_and_tags_are_peeled() {
        let heads = vec![
            ("HEAD".to_string(), oid(1)),
            ("refs/heads/main".to_string(), oid(1)),
            ("refs/heads/v1".to_string(), oid(2)),
            ("refs/tags/v1".to_string(), oid(3)),
            ("refs/tags/v2".to_string(), oid(4)),
            ("refs/tags/v2^{}".to_string(), oid(5)),
        ];
        assert_eq!(pick_ref(&heads, "main").unwrap().1, oid(1));
        assert_eq!(pick_ref(&heads, "v1").unwrap().1, oid(2));
        assert_eq!(pick_ref(&heads, "refs/tags/v1").unwrap().1, oid(3));
        assert_eq!(pick_ref(&heads, "v2").unwrap().1, oid(5));
        assert_eq!(pick_ref(&heads, "HEAD").unwrap().1, oid(1));
        assert!(pick_ref(&heads, "nope").is_none());
    }

    #[test]
    fn handles_can_move_to_blocking_threads() {
        fn send<T: Send>() {}
        send::<GitSource>();
        send::<Snapshot>();
        send::<GitTree>();
        send::<RenderedRevision>();
        send::<ReadSet>();
        send::<SourceError>();
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = lock(&path).unwrap();
        let other = File::options().write(true).open(&path).unwrap();
        assert!(other.try_lock().is_err());
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn codes_are_stable() {
        let e = SourceError::RefMissing {
            repo: "r".into(),
            reference: "x".into(),
        };
        assert_eq!(e.code(), "RUD1004");
        assert!(is_full_id(&"a".repeat(40)));
        assert!(!is_full_id(&"g".repeat(40)));
    }
}
