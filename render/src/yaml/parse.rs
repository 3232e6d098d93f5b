//! Parsing YAML streams into `serde_json::Value` documents (owner: render core).
