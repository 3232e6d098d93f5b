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

pub mod generator;
pub mod patch;
pub mod replacement;
pub mod vars;
pub mod yaml;
