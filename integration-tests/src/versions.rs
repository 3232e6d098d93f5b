//! The pinned control-plane versions, read from `controlplane/versions.env`,
//! the one file that both the build script and this crate use.

const VERSIONS_ENV: &str = include_str!("../controlplane/versions.env");

fn pinned(key: &str) -> &'static str {
    VERSIONS_ENV
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("controlplane/versions.env has no {key}"))
}

/// The Kubernetes version of kube-apiserver, controller-manager and scheduler.
pub fn kubernetes() -> &'static str {
    pinned("KUBERNETES_VERSION")
}

/// The etcd version.
pub fn etcd() -> &'static str {
    pinned("ETCD_VERSION")
}

/// The kwok version.
pub fn kwok() -> &'static str {
    pinned("KWOK_VERSION")
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_pinned_semver_tags() {
        for v in [super::kubernetes(), super::etcd(), super::kwok()] {
            assert!(v.starts_with('v') && v.split('.').count() == 3, "{v}");
        }
        assert!(
            super::kubernetes() >= "v1.34.0",
            "Kubernetes 1.34 or newer is required"
        );
    }
}
