//! replacements (owner: generators).
