//! Arbitrary bytes into the renderer's YAML loader
//! (`rudder_render::yaml::parse::parse_documents`), and whatever parses back
//! out through the emitter (`yaml::emit::to_yaml_stream`). Neither may
//! panic, overflow the stack or run away with memory; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rudder_render::yaml::{emit, parse};

fuzz_target!(|data: &[u8]| {
    // Files reach the parser as UTF-8 text (the loader refuses anything
    // else before parsing), so only valid UTF-8 is interesting.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = parse::parse_documents("fuzz.yaml", text) {
        let _ = emit::to_yaml_stream(&docs);
        // `parse_one` shares the parser; exercise its own branches too.
        let _ = parse::parse_one("fuzz.yaml", text);
    }
});
