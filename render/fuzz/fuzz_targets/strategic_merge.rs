//! Strategic merge patch engine (`rudder_render::patch::strategic::merge`).
//!
//! Input: a YAML (or JSON) stream; its first document is the target, its
//! second the patch (`---` between them). The merge must never panic, and
//! its result must emit as YAML without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rudder_render::patch::strategic;
use rudder_render::yaml::{emit, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(docs) = parse::parse_documents("fuzz.yaml", text) else {
        return;
    };
    let [target, patch, ..] = docs.as_slice() else {
        return;
    };
    if let Ok(Some(merged)) = strategic::merge(target, patch) {
        let _ = emit::to_yaml(&merged);
    }
    // A document patched with itself goes through the same walker with
    // aliasing inputs (the `$patch: replace` / self-merge paths).
    let _ = strategic::merge(patch, patch);
});
