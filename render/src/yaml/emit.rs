//! Writing objects as go-yaml v3 / kyaml prints them (owner: yaml emit + patch).
