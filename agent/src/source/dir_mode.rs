//! Rendering an app's path from a snapshot, in one of two modes.
//!
//! A path holding a kustomization file renders as `kubectl kustomize`
//! would. A path holding none renders the way Flux's kustomize-controller
//! does: every `*.yaml` / `*.yml` file below it, recursively, in path order,
//! except that a subdirectory with its own kustomization file is taken as
//! one resource (and not descended into). Flux writes a kustomization.yaml
//! listing them; rudder serves the same file virtually through a
//! [`FileTree`] wrapper, so the renderer reads every real file itself and
//! its errors name the real file and line.
//!
//! Either way, every question asked of the tree is recorded in a
//! [`ReadSet`].

use std::fmt;

use rudder_render::fs::{EntryKind, FileTree, join};
use rudder_render::kustomization::FILE_NAMES;
use rudder_render::{RenderError, RenderOptions, Rendered};

use super::Snapshot;
use super::reads::{ReadSet, Recording};

/// How a path was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderMode {
    /// The path holds a kustomization file.
    Kustomization,
    /// Every YAML file below the path, as Flux does.
    PlainDirectory,
}

impl fmt::Display for RenderMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RenderMode::Kustomization => "kustomization",
            RenderMode::PlainDirectory => "directory",
        })
    }
}

/// A render of one revision, with what it read and how.
#[derive(Debug, Clone)]
pub struct RenderedRevision {
    pub rendered: Rendered,
    pub reads: ReadSet,
    pub mode: RenderMode,
}

/// Directory depth at which the plain-directory walk stops (a symlink loop
/// inside the tree would otherwise never end).
const MAX_DEPTH: usize = 64;

/// Renders `path` (relative to the repository root, already templated)
/// from the snapshot's tree. A path that does not exist, is not a
/// directory, or escapes the repository is an error naming it.
pub fn render_snapshot(
    snapshot: &Snapshot,
    path: &str,
    options: &RenderOptions,
) -> Result<RenderedRevision, RenderError> {
    let tree = snapshot.tree().map_err(|e| RenderError::Io {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    let rec = Recording::new(&tree);
    let outside = |message: &str| RenderError::Restricted {
        path: path.to_string(),
        message: message.to_string(),
    };
    let dir = join("", path).ok_or_else(|| outside("is outside the repository root"))?;
    let io = |message: String| RenderError::Io {
        path: path.to_string(),
        message,
    };
    let real = rec
        .resolve(&dir)
        .map_err(io)?
        .ok_or_else(|| outside("resolves outside the repository root (through a symlink)"))?;
    let short = &snapshot.revision[..snapshot.revision.len().min(12)];
    match rec.kind(&real) {
        EntryKind::Dir => {}
        EntryKind::File => return Err(io(format!("is a file, not a directory (commit {short})"))),
        EntryKind::Missing => return Err(io(format!("no such directory in commit {short}"))),
    }
    let has_kustomization = FILE_NAMES
        .iter()
        .any(|name| rec.kind(&join(&real, name).unwrap_or_default()) == EntryKind::File);
    let (rendered, mode) = if has_kustomization {
        (
            rudder_render::render(&rec, &dir, options)?,
            RenderMode::Kustomization,
        )
    } else {
        let mut resources = Vec::new();
        scan(&rec, &real, &real, 0, &mut resources)?;
        let virtual_tree = Generated::new(&rec, &real, &resources);
        (
            rudder_render::render(&virtual_tree, &real, options)?,
            RenderMode::PlainDirectory,
        )
    };
    Ok(RenderedRevision {
        rendered,
        reads: rec.into_reads(),
        mode,
    })
}

/// Flux's walk: YAML files, and subdirectories with a kustomization file
/// as whole resources, in path order, relative to `top`.
fn scan(
    tree: &dyn FileTree,
    top: &str,
    dir: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    let io = |path: &str, message: String| RenderError::Io {
        path: path.to_string(),
        message,
    };
    if depth > MAX_DEPTH {
        return Err(io(
            dir,
            format!("directories nested deeper than {MAX_DEPTH} (a symlink loop?)"),
        ));
    }
    for name in tree.list(dir).map_err(|e| io(dir, e))? {
        let path = join(dir, &name).unwrap_or_default();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        let relative = || path[top.len()..].trim_start_matches('/').to_string();
        match tree.kind(&path) {
            EntryKind::Dir => {
                let has_kustomization = FILE_NAMES
                    .iter()
                    .any(|k| tree.kind(&join(&path, k).unwrap_or_default()) == EntryKind::File);
                if has_kustomization {
                    out.push(relative());
                } else {
                    scan(tree, top, &path, depth + 1, out)?;
                }
            }
            EntryKind::File if is_yaml => out.push(relative()),
            EntryKind::File => {}
            // A YAML file whose link leaves the repository must not vanish
            // silently from the render: say so.
            EntryKind::Missing
                if is_yaml && tree.resolve(&path).map_err(|e| io(&path, e))?.is_none() =>
            {
                return Err(RenderError::Restricted {
                    path,
                    message: "is a symlink that resolves outside the repository root".into(),
                });
            }
            EntryKind::Missing => {}
        }
    }
    Ok(())
}

/// A tree with one extra, generated file: the kustomization Flux would
/// write into a plain directory.
struct Generated<'a> {
    inner: &'a dyn FileTree,
    dir: String,
    file: String,
    content: Vec<u8>,
}

impl<'a> Generated<'a> {
    fn new(inner: &'a dyn FileTree, dir: &str, resources: &[String]) -> Self {
        // JSON is YAML, and it quotes every file name safely.
        let content = serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        })
        .to_string()
        .into_bytes();
        Generated {
            inner,
            dir: dir.to_string(),
            file: join(dir, FILE_NAMES[0]).unwrap_or_default(),
            content,
        }
    }
}

impl FileTree for Generated<'_> {
    fn kind(&self, path: &str) -> EntryKind {
        if path == self.file {
            EntryKind::File
        } else {
            self.inner.kind(path)
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        if path == self.file {
            Ok(self.content.clone())
        } else {
            self.inner.read(path)
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let mut names = self.inner.list(path)?;
        if path == self.dir {
            names.push(FILE_NAMES[0].to_string());
            names.sort();
        }
        Ok(names)
    }

    fn resolve(&self, path: &str) -> Result<Option<String>, String> {
        if path == self.file {
            Ok(Some(path.to_string()))
        } else {
            self.inner.resolve(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::tests::commit_tree;
    use super::*;

    fn snapshot(files: &[(&str, &str)], links: &[(&str, &str)]) -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().unwrap();
        let (repo, tree) = commit_tree(dir.path(), files, links);
        let s = Snapshot {
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            commit_time: 0,
            summary: String::new(),
            repo_path: repo.path().to_path_buf(),
            repo_shown: "test".into(),
            tree_id: tree,
        };
        (dir, s)
    }

    fn cm(name: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
    }

    fn names(r: &RenderedRevision) -> Vec<String> {
        r.rendered
            .objects
            .iter()
            .map(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn plain_directory_takes_yaml_recursively_and_sub_kustomizations_whole() {
        let (_d, s) = snapshot(
            &[
                ("apps/b.yaml", &cm("b")),
                ("apps/a/x.yml", &cm("x")),
                ("apps/notes.txt", "not yaml"),
                (
                    "apps/k/kustomization.yaml",
                    "namePrefix: k-\nresources: [c.yaml]\n",
                ),
                ("apps/k/c.yaml", &cm("c")),
                ("apps/k/ignored.yaml", "this: is not listed"),
            ],
            &[],
        );
        let r = render_snapshot(&s, "apps", &RenderOptions::default()).unwrap();
        assert_eq!(r.mode, RenderMode::PlainDirectory);
        assert_eq!(r.mode.to_string(), "directory");
        let mut got = names(&r);
        got.sort();
        assert_eq!(got, vec!["b", "k-c", "x"]);
        assert!(r.reads.paths().contains(&"apps/a/x.yml"));
    }

    #[test]
    fn kustomization_mode_and_path_errors() {
        let (_d, s) = snapshot(
            &[
                ("k/kustomization.yaml", "resources: [a.yaml]\n"),
                ("k/a.yaml", &cm("a")),
                ("f.yaml", &cm("f")),
            ],
            &[("escape", "../outside"), ("p/evil.yaml", "/etc/passwd")],
        );
        let r = render_snapshot(&s, "k", &RenderOptions::default()).unwrap();
        assert_eq!(
            (r.mode, names(&r)),
            (RenderMode::Kustomization, vec!["a".to_string()])
        );
        let e = |p: &str| {
            render_snapshot(&s, p, &RenderOptions::default())
                .unwrap_err()
                .to_string()
        };
        assert!(
            e("../x").contains("outside the repository"),
            "{}",
            e("../x")
        );
        assert!(
            e("escape").contains("outside the repository"),
            "{}",
            e("escape")
        );
        assert!(
            e("nope").contains("no such directory in commit 0123456789ab"),
            "{}",
            e("nope")
        );
        assert!(e("f.yaml").contains("is a file"), "{}", e("f.yaml"));
        assert!(e("p").starts_with("p/evil.yaml: security:"), "{}", e("p"));
    }

    #[test]
    fn bad_yaml_in_a_plain_directory_names_the_file_and_line() {
        let (_d, s) = snapshot(
            &[
                ("d/ok.yaml", &cm("ok")),
                ("d/sub/bad.yaml", "a: 1\nb: [unclosed\n"),
            ],
            &[],
        );
        let e = render_snapshot(&s, "d", &RenderOptions::default()).unwrap_err();
        match &e {
            RenderError::Yaml { file, line, .. } => {
                assert_eq!(file, "d/sub/bad.yaml");
                assert!(*line >= 2, "{e}");
            }
            other => panic!("expected a YAML error, got {other}"),
        }
    }
}
