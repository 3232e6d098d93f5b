//! Patch engines over plain values: strategic merge patch (with Kubernetes
//! merge keys and `$patch` directives) and JSON 6902. Both are pure: a
//! target and a patch in, a new value (or an error saying what failed
//! where) out; neither touches the caller's values.

pub mod json6902;
pub mod strategic;

/// Why a patch could not be applied. Paths are dotted field paths for
/// strategic merge and RFC 6901 pointers for JSON 6902.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// Target and patch disagree on the shape of a field.
    #[error("strategic merge patch at {path}: the target has {target} but the patch has {patch}")]
    KindMismatch {
        /// Dotted field path.
        path: String,
        /// Shape in the target ("a map", "a list", "a scalar").
        target: &'static str,
        /// Shape in the patch.
        patch: &'static str,
    },
    /// A `$patch` directive other than `merge`, `replace` or `delete`.
    #[error(
        "strategic merge patch at {path}: unknown patch strategy '{value}' (expected merge, replace or delete)"
    )]
    UnknownDirective {
        /// The directive's value.
        value: String,
        /// Dotted field path.
        path: String,
    },
    /// The input nests deeper than the engines follow.
    #[error("patch nests too deeply at {path}")]
    TooDeep {
        /// Where the limit was hit.
        path: String,
    },
    /// A JSON 6902 patch that is not a list of operation objects.
    #[error("JSON 6902 patch: {reason}")]
    MalformedOps {
        /// What is wrong with the list.
        reason: String,
    },
    /// One JSON 6902 operation failed.
    #[error("JSON 6902 operation {index} ({op} {path}): {reason}")]
    OperationFailed {
        /// Zero-based index of the operation in the patch.
        index: usize,
        /// The operation name as written (`add`, `remove`, …).
        op: String,
        /// The operation's `path` pointer.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
