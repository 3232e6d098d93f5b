//! The file tree the renderer reads through: a small trait so the agent can
//! render straight from a Git tree, plus an on-disk implementation
//! ([`DiskTree`]) and an in-memory one for tests ([`MemTree`]).
//!
//! Every path handed to a [`FileTree`] is relative to the tree's root, uses
//! `/` separators and is already normalised (no `.`, `..` or empty parts);
//! the root itself is `""`. [`join`] builds such paths and refuses any that
//! would climb above the root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a path names in a [`FileTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Missing,
}

/// Read-only access to a tree of files rooted at a repository root.
pub trait FileTree {
    /// Whether `path` is a file, a directory or absent (after following
    /// symlinks).
    fn kind(&self, path: &str) -> EntryKind;
    /// The bytes of the file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    /// The names (not paths) of the entries of directory `path`, sorted.
    fn list(&self, path: &str) -> Result<Vec<String>, String>;
    /// `path` with every symlink resolved, relative to the root; `None` when
    /// it resolves outside the root. A missing path resolves to itself.
    fn resolve(&self, path: &str) -> Result<Option<String>, String>;
}

/// Lexically joins `rel` (relative, or absolute within the tree when it
/// starts with `/`... which we refuse) onto `base`, folding `.` and `..`.
/// Returns `None` when the result would climb above the root.
///
/// ```
/// use rudder_render::fs::join;
/// assert_eq!(join("a/b", "../c.yaml").as_deref(), Some("a/c.yaml"));
/// assert_eq!(join("a", "../../x"), None);
/// ```
pub fn join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if !rel.starts_with('/') {
        parts.extend(base.split('/').filter(|p| !p.is_empty() && *p != "."));
    }
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// True when `path` is `dir` or lies below it.
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// The directory part of `path` (`""` for a top-level file).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// A tree on the local disk, rooted at a directory.
#[derive(Debug, Clone)]
pub struct DiskTree {
    root: PathBuf,
}

impl DiskTree {
    /// A tree rooted at `root` (canonicalised, so symlinks in the root's own
    /// path do not count as escapes).
    pub fn new(root: &Path) -> Result<Self, String> {
        let root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
        Ok(DiskTree { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn abs(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }
}

impl FileTree for DiskTree {
    fn kind(&self, path: &str) -> EntryKind {
        match std::fs::metadata(self.abs(path)) {
            Ok(m) if m.is_dir() => EntryKind::Dir,
            Ok(_) => EntryKind::File,
            Err(_) => EntryKind::Missing,
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.abs(path)).map_err(|e| e.to_string())
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.abs(path)).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn resolve(&self, path: &str) -> Result<Option<String>, String> {
        let abs = self.abs(path);
        let real = match std::fs::canonicalize(&abs) {
            Ok(real) => real,
            Err(_) if std::fs::symlink_metadata(&abs).is_err() => {
                return Ok(Some(path.to_string()));
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(real.strip_prefix(&self.root).ok().map(|rel| {
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        }))
    }
}

/// An in-memory tree for tests: files by path, directories implied by them,
/// and optional symlinks (link path → target path relative to the root, or
/// any path starting with `/` to stand for "outside the root").
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    files: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with_file(mut self, path: &str, content: &str) -> Self {
        self.files
            .insert(path.to_string(), content.as_bytes().to_vec());
        self
    }

    /// Adds a symlink at `path` pointing to `target`.
    pub fn with_link(mut self, path: &str, target: &str) -> Self {
        self.links.insert(path.to_string(), target.to_string());
        self
    }

    fn follow(&self, path: &str) -> Option<String> {
        let mut out = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(part);
            if let Some(target) = self.links.get(&out) {
                if target.starts_with('/') {
                    return None;
                }
                out = target.clone();
            }
        }
        Some(out)
    }
}

impl FileTree for MemTree {
    fn kind(&self, path: &str) -> EntryKind {
        let Some(path) = self.follow(path) else {
            return EntryKind::Missing;
        };
        if self.files.contains_key(&path) {
            return EntryKind::File;
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        if self.files.keys().any(|k| k.starts_with(&prefix)) {
            EntryKind::Dir
        } else {
            EntryKind::Missing
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.follow(path)
            .and_then(|p| self.files.get(&p).cloned())
            .ok_or_else(|| "no such file".to_string())
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let path = self.follow(path).ok_or("no such directory")?;
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(names)
    }

    fn resolve(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.follow(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_folds_dots_and_refuses_climbing_above_root() {
        assert_eq!(join("a/b", "./c/../d.yaml").as_deref(), Some("a/b/d.yaml"));
        assert_eq!(join("", "x").as_deref(), Some("x"));
        assert_eq!(join("a", "../.."), None);
    }

    #[test]
    fn is_within_respects_component_boundaries() {
        assert!(is_within("base/x.yaml", "base"));
        assert!(!is_within("base2/x.yaml", "base"));
        assert!(is_within("anything", ""));
    }

    #[test]
    fn mem_tree_lists_and_resolves_links() {
        let t = MemTree::new()
            .with_file("a/k.yaml", "x")
            .with_file("a/sub/f", "y")
            .with_link("l", "a")
            .with_link("out", "/etc");
        assert_eq!(t.list("a").unwrap(), vec!["k.yaml", "sub"]);
        assert_eq!(t.kind("l/k.yaml"), EntryKind::File);
        assert_eq!(t.resolve("l/k.yaml").unwrap().as_deref(), Some("a/k.yaml"));
        assert_eq!(t.resolve("out/passwd").unwrap(), None);
    }

    #[test]
    fn disk_tree_reports_symlink_escaping_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let t = DiskTree::new(&root).unwrap();
        assert_eq!(t.kind("link"), EntryKind::File);
        assert_eq!(t.resolve("link").unwrap(), None);
    }
}
