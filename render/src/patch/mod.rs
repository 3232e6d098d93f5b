//! Patch engines over plain values: strategic merge patch (with Kubernetes
//! merge keys and `$patch` directives) and JSON 6902.

pub mod json6902;
pub mod strategic;
