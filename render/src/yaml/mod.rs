//! YAML in and out: parsing multi-document streams with bounded budgets and
//! errors that carry file and line (`parse`), and writing objects back as the
//! exact text `kubectl kustomize` prints (`emit`).

pub mod emit;
pub mod parse;
mod resolve;
