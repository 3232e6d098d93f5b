//! rudder's Kustomize-compatible renderer.
//!
//! Values in, values out: a kustomization directory read through a
//! [`fs::FileTree`] becomes the ordered list of Kubernetes objects that
//! `kubectl kustomize` would print. No Kubernetes client, Git, async runtime
//! or HTTP here: Cargo enforces that purity, so the renderer can be used,
//! tested and benchmarked alone.
//!
//! Objects are plain `serde_json::Value`s throughout (the same representation
//! kube's dynamic objects use), so the reconciler takes them as they are.
#![forbid(unsafe_code)]

pub mod build;
pub mod error;
pub mod fieldspec;
pub mod fs;
pub mod generator;
pub mod kustomization;
pub mod openapi;
pub mod order;
pub mod patch;
pub mod replacement;
pub mod resid;
pub mod substitute;
pub mod transform;
pub mod vars;
pub mod yaml;

pub use build::{RenderOptions, Rendered, render};
pub use error::RenderError;

/// Renders the kustomization in directory `path` on disk. The repository
/// root (the limit for bases) is the enclosing Git work tree (the nearest
/// ancestor holding `.git`). Outside any Git work tree there is no
/// repository to stay inside, so bases may be anywhere on disk, as with
/// `kubectl kustomize`; files must still stay inside their kustomization's
/// directory.
///
/// ```no_run
/// let out = rudder_render::render_dir(std::path::Path::new("clusters/eu"), &Default::default()).unwrap();
/// println!("{} objects", out.objects.len());
/// ```
pub fn render_dir(
    path: &std::path::Path,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let abs = std::fs::canonicalize(path).map_err(|e| RenderError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let root = abs
        .ancestors()
        .find(|a| a.join(".git").exists())
        .or_else(|| abs.ancestors().last())
        .unwrap_or(&abs)
        .to_path_buf();
    let tree = fs::DiskTree::new(&root).map_err(|message| RenderError::Io {
        path: root.display().to_string(),
        message,
    })?;
    let rel = abs
        .strip_prefix(tree.root())
        .map(|r| {
            r.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    render(&tree, &rel, options)
}
