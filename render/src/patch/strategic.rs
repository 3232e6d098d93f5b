//! Strategic merge patches (owner: yaml emit + patch).
