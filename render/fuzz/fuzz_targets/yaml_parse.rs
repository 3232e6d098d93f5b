//! Arbitrary bytes into the renderer's YAML loader (both readings:
//! `parse_documents` for configuration, `parse_objects` for resources), and
//! whatever parses back out through the emitter (`yaml::emit`). Nothing may
//! panic, overflow the stack or run away with memory; errors are fine, but
//! what the emitter writes must parse again.
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
        if let Ok(out) = emit::to_yaml_stream(&docs) {
            if let Err(e) = parse::parse_documents("emitted.yaml", &out) {
                panic!("the emitter wrote YAML its own parser refuses: {e}\n{out}");
            }
        }
        // `parse_one` shares the parser; exercise its own branches too.
        let _ = parse::parse_one("fuzz.yaml", text);
    }
    if let Ok(docs) = parse::parse_objects("fuzz.yaml", text) {
        let _ = emit::to_yaml_stream(&docs);
    }
});
