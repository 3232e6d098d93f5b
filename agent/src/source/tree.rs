//! A commit's tree as a renderer [`FileTree`]: paths are looked up tree by
//! tree in the object database, blobs read from it, and symlinks (blobs of
//! mode 120000 whose content is the target) followed inside the tree. A
//! link whose target leaves the tree (absolute, or climbing above the root)
//! resolves to `None`, so the renderer's root restriction holds for Git
//! content exactly as for a directory on disk. Submodules (gitlinks) are
//! not part of the tree: their content is not in this repository.

use std::path::Path;

use git2::{Oid, Repository};
use rudder_render::fs::{EntryKind, FileTree};

/// Symlink hops before a lookup gives up, as Linux's ELOOP limit.
const MAX_LINKS: u32 = 40;

const MODE_TREE: i32 = 0o040000;
const MODE_LINK: i32 = 0o120000;
const MODE_GITLINK: i32 = 0o160000;

/// The tree of one commit, read from a bare repository. `Send` (libgit2
/// repositories may move between threads), not `Sync`.
pub struct GitTree {
    repo: Repository,
    root: Oid,
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// A file (blob) or directory (tree) at the resolved path.
    Entry {
        path: String,
        dir: bool,
        id: Oid,
    },
    Missing,
    /// Through a symlink out of the tree.
    Outside,
}

impl GitTree {
    pub(crate) fn open(repo_path: &Path, root: Oid) -> Result<GitTree, git2::Error> {
        let repo = Repository::open_bare(repo_path)?;
        // Fail now rather than on every lookup when the tree is absent.
        repo.find_tree(root)?;
        Ok(GitTree { repo, root })
    }

    /// The id of the tree's root.
    pub fn root_id(&self) -> Oid {
        self.root
    }

    /// Follows `path` component by component, symlinks included.
    pub(crate) fn lookup(&self, path: &str) -> Result<Found, String> {
        let mut pending: std::collections::VecDeque<String> =
            path.split('/').map(str::to_string).collect();
        // The directories walked so far: (name, tree id).
        let mut stack: Vec<(String, Oid)> = Vec::new();
        let mut hops = 0;
        let git = |e: git2::Error| e.message().to_string();
        while let Some(part) = pending.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if stack.pop().is_none() {
                        return Ok(Found::Outside);
                    }
                    continue;
                }
                _ => {}
            }
            let dir = stack.last().map_or(self.root, |(_, id)| *id);
            let tree = self.repo.find_tree(dir).map_err(git)?;
            let Some(entry) = tree.get_name(&part) else {
                return Ok(Found::Missing);
            };
            match entry.filemode() {
                MODE_TREE => stack.push((part, entry.id())),
                MODE_LINK => {
                    hops += 1;
                    if hops > MAX_LINKS {
                        return Err(format!("{path}: too many levels of symbolic links"));
                    }
                    let blob = self.repo.find_blob(entry.id()).map_err(git)?;
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    if target.starts_with('/') {
                        return Ok(Found::Outside);
                    }
                    // The target replaces the link, relative to the link's
                    // directory (which is what the stack holds).
                    for (i, t) in target.split('/').enumerate() {
                        pending.insert(i, t.to_string());
                    }
                }
                MODE_GITLINK => return Ok(Found::Missing),
                _ => {
                    if pending.iter().any(|p| !p.is_empty()) {
                        // A file used as a directory.
                        return Ok(Found::Missing);
                    }
                    let mut names: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
                    names.push(&part);
                    return Ok(Found::Entry {
                        path: names.join("/"),
                        dir: false,
                        id: entry.id(),
                    });
                }
            }
        }
        let names: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
        Ok(Found::Entry {
            path: names.join("/"),
            dir: true,
            id: stack.last().map_or(self.root, |(_, id)| *id),
        })
    }

    /// The names in tree `id`, gitlinks left out, sorted by bytes as a
    /// directory listing is (Git's own order sorts trees as if their names
    /// ended in `/`).
    pub(crate) fn names(&self, id: Oid) -> Result<Vec<String>, String> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| e.message().to_string())?;
        let mut names: Vec<String> = tree
            .iter()
            .filter(|e| e.filemode() != MODE_GITLINK)
            .filter_map(|e| e.name().ok().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }
}

impl FileTree for GitTree {
    fn kind(&self, path: &str) -> EntryKind {
        match self.lookup(path) {
            Ok(Found::Entry { dir: true, .. }) => EntryKind::Dir,
            Ok(Found::Entry { dir: false, .. }) => EntryKind::File,
            _ => EntryKind::Missing,
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        match self.lookup(path)? {
            Found::Entry { dir: false, id, .. } => self
                .repo
                .find_blob(id)
                .map(|b| b.content().to_vec())
                .map_err(|e| e.message().to_string()),
            Found::Entry { dir: true, .. } => Err("is a directory".into()),
            Found::Missing => Err("no such file".into()),
            Found::Outside => Err("is a symlink that leaves the repository".into()),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        match self.lookup(path)? {
            Found::Entry { dir: true, id, .. } => self.names(id),
            Found::Entry { dir: false, .. } => Err("not a directory".into()),
            Found::Missing => Err("no such directory".into()),
            Found::Outside => Err("is a symlink that leaves the repository".into()),
        }
    }

    fn resolve(&self, path: &str) -> Result<Option<String>, String> {
        Ok(match self.lookup(path)? {
            Found::Entry { path, .. } => Some(path),
            Found::Missing => Some(path.to_string()),
            Found::Outside => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bare repository holding one commit made of `files` and `links`
    /// (path → target), built with libgit2 alone.
    pub(crate) fn commit_tree(
        dir: &Path,
        files: &[(&str, &str)],
        links: &[(&str, &str)],
    ) -> (Repository, Oid) {
        let repo = Repository::init_bare(dir.join("r.git")).unwrap();
        let id = build(&repo, files, links);
        (repo, id)
    }

    pub(crate) fn build(repo: &Repository, files: &[(&str, &str)], links: &[(&str, &str)]) -> Oid {
        // Nested map of path components → blob (mode, id).
        #[derive(Default)]
        struct Dir(std::collections::BTreeMap<String, Node>);
        enum Node {
            Blob(i32, Oid),
            Dir(Dir),
        }
        fn insert(d: &mut Dir, parts: &[&str], mode: i32, id: Oid) {
            if parts.len() == 1 {
                d.0.insert(parts[0].to_string(), Node::Blob(mode, id));
                return;
            }
            let sub =
                d.0.entry(parts[0].to_string())
                    .or_insert_with(|| Node::Dir(Dir::default()));
            if let Node::Dir(sub) = sub {
                insert(sub, &parts[1..], mode, id);
            }
        }
        fn write(repo: &Repository, d: &Dir) -> Oid {
            let mut b = repo.treebuilder(None).unwrap();
            for (name, node) in &d.0 {
                match node {
                    Node::Blob(mode, id) => b.insert(name, *id, *mode).unwrap(),
                    Node::Dir(sub) => b.insert(name, write(repo, sub), MODE_TREE).unwrap(),
                };
            }
            b.write().unwrap()
        }
        let mut root = Dir::default();
        for (path, content) in files {
            let id = repo.blob(content.as_bytes()).unwrap();
            insert(
                &mut root,
                &path.split('/').collect::<Vec<_>>(),
                0o100644,
                id,
            );
        }
        for (path, target) in links {
            let id = repo.blob(target.as_bytes()).unwrap();
            insert(
                &mut root,
                &path.split('/').collect::<Vec<_>>(),
                MODE_LINK,
                id,
            );
        }
        write(repo, &root)
    }

    #[test]
    fn reads_lists_and_follows_links_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, id) = commit_tree(
            dir.path(),
            &[
                ("a/k.yaml", "k"),
                ("a/sub/f", "f"),
                ("a.yaml", "top"),
                ("b/x", "x"),
            ],
            &[
                ("l", "a"),
                ("a/up", "../b/x"),
                ("out", "/etc/passwd"),
                ("b/climb", "../../secret"),
                ("loop", "loop"),
            ],
        );
        let t = GitTree::open(repo.path(), id).unwrap();
        assert_eq!(t.kind(""), EntryKind::Dir);
        assert_eq!(t.kind("a"), EntryKind::Dir);
        assert_eq!(t.kind("a/k.yaml"), EntryKind::File);
        assert_eq!(t.kind("a/k.yaml/x"), EntryKind::Missing);
        assert_eq!(t.kind("nope"), EntryKind::Missing);
        assert_eq!(t.read("l/k.yaml").unwrap(), b"k");
        assert_eq!(t.read("a/up").unwrap(), b"x");
        // Byte order, as a directory listing: "a" before "a.yaml".
        assert_eq!(
            t.list("").unwrap(),
            vec!["a", "a.yaml", "b", "l", "loop", "out"]
        );
        assert_eq!(t.resolve("l/sub/f").unwrap().as_deref(), Some("a/sub/f"));
        assert_eq!(t.resolve("a/up").unwrap().as_deref(), Some("b/x"));
        assert_eq!(
            t.resolve("missing/x").unwrap().as_deref(),
            Some("missing/x")
        );
        assert_eq!(t.resolve("out").unwrap(), None);
        assert_eq!(t.resolve("b/climb").unwrap(), None);
        assert_eq!(t.kind("out"), EntryKind::Missing);
        assert!(t.read("out").unwrap_err().contains("leaves the repository"));
        assert!(t.resolve("loop").unwrap_err().contains("symbolic links"));
    }
}
