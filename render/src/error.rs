//! The renderer's error type: every variant names the file (and line, for
//! YAML), the object or the field it is about, so a person reading one line
//! on stderr knows where to look and what to change.

use thiserror::Error;

/// Why a render failed.
#[derive(Debug, Error)]
pub enum RenderError {
    /// A YAML document could not be parsed (or broke a budget limit).
    #[error("{file}:{line}: invalid YAML: {message}")]
    Yaml {
        file: String,
        line: u64,
        message: String,
    },
    /// A file or directory could not be read.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A path escapes what the kustomization may read.
    #[error("{path}: security: {message}")]
    Restricted { path: String, message: String },
    /// No kustomization file in a directory given as a kustomization.
    #[error(
        "{dir}: no kustomization file found (expected one of kustomization.yaml, kustomization.yml, Kustomization)"
    )]
    MissingKustomization { dir: String },
    /// A kustomization (or plugin config) is malformed or uses something
    /// we refuse.
    #[error("{file}: {message}")]
    Kustomization { file: String, message: String },
    /// A kustomization uses a field rudder does not support.
    #[error("{file}: field `{field}` is not supported by rudder: {why}")]
    Unsupported {
        file: String,
        field: String,
        why: String,
    },
    /// Two objects with the same id.
    #[error("{file}: may not add resource with an already registered id: {id}")]
    DuplicateId { file: String, id: String },
    /// A transformer or generator could not do its work.
    #[error("{file}: {message}")]
    Transform { file: String, message: String },
    /// A `${NAME}` in the output with no value.
    #[error(
        "variable ${{{name}}} is not defined (pass --var {name}=VALUE or write ${{{name}:=default}}), used in {object}"
    )]
    UndefinedVariable { name: String, object: String },
}

impl RenderError {
    /// Shorthand for a [`RenderError::Kustomization`].
    pub fn kust(file: impl Into<String>, message: impl Into<String>) -> Self {
        RenderError::Kustomization {
            file: file.into(),
            message: message.into(),
        }
    }

    /// Shorthand for a [`RenderError::Transform`].
    pub fn transform(file: impl Into<String>, message: impl Into<String>) -> Self {
        RenderError::Transform {
            file: file.into(),
            message: message.into(),
        }
    }
}
