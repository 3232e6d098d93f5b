//! What a render looked at, so a later commit can be judged without
//! rendering it: [`Recording`] wraps a file tree and notes every call the
//! renderer makes (kind checks, reads, listings, resolves); [`ReadSet`]
//! replays those questions against two commits and says whether every
//! answer is the same. The renderer is a pure function of those answers
//! (and its options), so the same answers mean the same output.
//!
//! Each question is compared by what its answer depends on, no more: a
//! kind check by the kind, a read by the blob id, a listing by the names, a
//! resolve by the resolved path. So a change inside a directory whose kind
//! was the only thing asked does not count, and a file added to a listed
//! directory does.

use std::cell::RefCell;
use std::collections::BTreeSet;

use git2::Oid;
use rudder_render::fs::{EntryKind, FileTree};

use super::tree::{Found, GitTree};
use super::{Snapshot, SourceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Kind,
    Read,
    List,
    Resolve,
}

/// The questions one render asked of its tree.
#[derive(Clone, Debug, Default)]
pub struct ReadSet {
    probes: BTreeSet<(String, Op)>,
}

/// One answer, reduced to what the renderer could observe.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Kind(EntryKind),
    Blob(Result<Oid, String>),
    Names(Result<Vec<String>, String>),
    Resolved(Result<Option<String>, String>),
}

impl ReadSet {
    /// How many distinct questions the render asked.
    pub fn len(&self) -> usize {
        self.probes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// The paths the render looked at, sorted (for logs and tests).
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.probes.iter().map(|(p, _)| p.as_str()).collect();
        paths.dedup();
        paths
    }

    /// True when `new` has, at every path this render looked at, exactly
    /// what `old` had (same blob or listing, same kind, same absence): the
    /// new commit cannot change this render.
    pub fn unchanged_between(&self, old: &Snapshot, new: &Snapshot) -> Result<bool, SourceError> {
        if old.tree_id == new.tree_id {
            return Ok(true);
        }
        let (a, b) = (old.tree()?, new.tree()?);
        Ok(self
            .probes
            .iter()
            .all(|(path, op)| answer(&a, path, *op) == answer(&b, path, *op)))
    }

    fn note(&mut self, path: &str, op: Op) {
        self.probes.insert((path.to_string(), op));
    }
}

fn answer(tree: &GitTree, path: &str, op: Op) -> Answer {
    match op {
        Op::Kind => Answer::Kind(tree.kind(path)),
        Op::Read => Answer::Blob(match tree.lookup(path) {
            Ok(Found::Entry { dir: false, id, .. }) => Ok(id),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e),
        }),
        Op::List => Answer::Names(tree.list(path)),
        Op::Resolve => Answer::Resolved(tree.resolve(path)),
    }
}

/// A file tree that notes every question asked of it.
pub struct Recording<'a> {
    inner: &'a dyn FileTree,
    reads: RefCell<ReadSet>,
}

impl<'a> Recording<'a> {
    pub fn new(inner: &'a dyn FileTree) -> Self {
        Recording {
            inner,
            reads: RefCell::new(ReadSet::default()),
        }
    }

    pub fn into_reads(self) -> ReadSet {
        self.reads.into_inner()
    }
}

impl FileTree for Recording<'_> {
    fn kind(&self, path: &str) -> EntryKind {
        self.reads.borrow_mut().note(path, Op::Kind);
        self.inner.kind(path)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.reads.borrow_mut().note(path, Op::Read);
        self.inner.read(path)
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        self.reads.borrow_mut().note(path, Op::List);
        self.inner.list(path)
    }

    fn resolve(&self, path: &str) -> Result<Option<String>, String> {
        self.reads.borrow_mut().note(path, Op::Resolve);
        self.inner.resolve(path)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::tests::{build, commit_tree};
    use super::*;

    fn snapshot(repo: &git2::Repository, tree: Oid) -> Snapshot {
        Snapshot {
            revision: String::new(),
            commit_time: 0,
            summary: String::new(),
            repo_path: repo.path().to_path_buf(),
            repo_shown: "test".into(),
            tree_id: tree,
        }
    }

    #[test]
    fn each_question_compares_only_what_it_depends_on() {
        let dir = tempfile::tempdir().unwrap();
        let base = [
            ("app/a.yaml", "a"),
            ("app/sub/b.yaml", "b"),
            ("other/c.yaml", "c"),
        ];
        let (repo, t0) = commit_tree(dir.path(), &base, &[]);
        let old = snapshot(&repo, t0);
        let tree = old.tree().unwrap();
        let rec = Recording::new(&tree);
        let _ = rec.list("app");
        let _ = rec.read("app/a.yaml");
        rec.kind("app/sub");
        rec.kind("app/kustomization.yaml");
        let _ = rec.resolve("app");
        let reads = rec.into_reads();
        assert_eq!(reads.len(), 5);
        assert_eq!(
            reads.paths(),
            vec!["app", "app/a.yaml", "app/kustomization.yaml", "app/sub"]
        );

        let variant = |files: &[(&str, &str)]| snapshot(&repo, build(&repo, files, &[]));
        // Another directory changed: same answers.
        let other = variant(&[
            ("app/a.yaml", "a"),
            ("app/sub/b.yaml", "b"),
            ("other/c.yaml", "C"),
        ]);
        assert!(reads.unchanged_between(&old, &other).unwrap());
        // Inside a directory only kind-checked: same answers.
        let deep = variant(&[
            ("app/a.yaml", "a"),
            ("app/sub/b.yaml", "B"),
            ("other/c.yaml", "c"),
        ]);
        assert!(reads.unchanged_between(&old, &deep).unwrap());
        // A read file changed.
        let read = variant(&[
            ("app/a.yaml", "A"),
            ("app/sub/b.yaml", "b"),
            ("other/c.yaml", "c"),
        ]);
        assert!(!reads.unchanged_between(&old, &read).unwrap());
        // A file added to a listed directory.
        let added = variant(&[
            ("app/a.yaml", "a"),
            ("app/new.yaml", "n"),
            ("app/sub/b.yaml", "b"),
            ("other/c.yaml", "c"),
        ]);
        assert!(!reads.unchanged_between(&old, &added).unwrap());
        // A file that was absent now exists.
        let kust = variant(&[
            ("app/a.yaml", "a"),
            ("app/kustomization.yaml", "k"),
            ("app/sub/b.yaml", "b"),
            ("other/c.yaml", "c"),
        ]);
        assert!(!reads.unchanged_between(&old, &kust).unwrap());
    }
}
