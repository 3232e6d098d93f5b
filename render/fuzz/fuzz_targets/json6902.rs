//! JSON 6902 patch engine (`rudder_render::patch::json6902::apply`).
//!
//! Input: a YAML (or JSON) stream; its first document is the target, its
//! second the list of operations (`---` between them). Applying must never
//! panic, and its result must emit as YAML without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rudder_render::patch::json6902;
use rudder_render::yaml::{emit, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(docs) = parse::parse_documents("fuzz.yaml", text) else {
        return;
    };
    let [target, ops, ..] = docs.as_slice() else {
        return;
    };
    if let Ok(patched) = json6902::apply(target, ops) {
        let _ = emit::to_yaml(&patched);
    }
});
