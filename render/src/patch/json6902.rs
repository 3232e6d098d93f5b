//! JSON 6902 patches (owner: yaml emit + patch).
