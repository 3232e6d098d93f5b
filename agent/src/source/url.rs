//! What rudder needs to know about a repository URL besides handing it to
//! libgit2: the form errors may show (any password stripped), whether it is
//! local, and the SSH host and port the host-key check is about.

/// A repository URL, parsed just enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// The URL without any password, for messages and cache naming.
    pub shown: String,
    /// A local path or `file://` URL.
    pub local: bool,
    /// The SSH server, for `ssh://` and scp-like URLs.
    pub ssh: Option<SshHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
}

impl RepoUrl {
    pub fn parse(url: &str) -> RepoUrl {
        if let Some((scheme, rest)) = url.split_once("://") {
            let scheme_l = scheme.to_ascii_lowercase();
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let (userinfo, hostport) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            let user = userinfo.map(|u| u.split(':').next().unwrap_or_default().to_string());
            let shown = match &user {
                Some(user) => format!("{scheme}://{user}@{hostport}{path}"),
                None => format!("{scheme}://{hostport}{path}"),
            };
            let ssh = matches!(scheme_l.as_str(), "ssh" | "ssh+git" | "git+ssh").then(|| {
                let (host, port) = split_port(hostport);
                SshHost {
                    user,
                    host,
                    port: port.unwrap_or(22),
                }
            });
            return RepoUrl {
                shown,
                local: scheme_l == "file",
                ssh,
            };
        }
        // scp-like `[user@]host:path`: a colon before any slash, as git
        // decides it.
        let colon = url.find(':');
        let slash = url.find('/');
        if let Some(c) = colon.filter(|c| slash.is_none_or(|s| *c < s) && *c > 0) {
            let authority = &url[..c];
            let (user, host) = match authority.rfind('@') {
                Some(i) => (Some(authority[..i].to_string()), &authority[i + 1..]),
                None => (None, authority),
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            return RepoUrl {
                shown: url.to_string(),
                local: false,
                ssh: Some(SshHost {
                    user,
                    host,
                    port: 22,
                }),
            };
        }
        RepoUrl {
            shown: url.to_string(),
            local: true,
            ssh: None,
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_port(hostport: &str) -> (String, Option<u16>) {
    if let Some(rest) = hostport.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (
            host.to_string(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (host.to_string(), port.parse().ok()),
        _ => (hostport.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_shown() {
        let u = RepoUrl::parse("https://bot:s3cret@git.example.com/fleet.git");
        assert_eq!(u.shown, "https://bot@git.example.com/fleet.git");
        assert!(!u.local && u.ssh.is_none());
        let u = RepoUrl::parse("http://tok3n@127.0.0.1:8080/fleet");
        assert_eq!(u.shown, "http://tok3n@127.0.0.1:8080/fleet");
    }

    #[test]
    fn ssh_forms() {
        let u = RepoUrl::parse("ssh://git@127.0.0.1:2222/srv/fleet.git");
        assert_eq!(
            u.ssh,
            Some(SshHost {
                user: Some("git".into()),
                host: "127.0.0.1".into(),
                port: 2222
            })
        );
        let u = RepoUrl::parse("git@github.com:org/fleet.git");
        assert_eq!(u.ssh.as_ref().unwrap().host, "github.com");
        assert_eq!(u.ssh.as_ref().unwrap().port, 22);
        let u = RepoUrl::parse("ssh://[::1]:2200/x");
        assert_eq!(u.ssh.as_ref().unwrap().host, "::1");
        assert_eq!(u.ssh.as_ref().unwrap().port, 2200);
    }

    #[test]
    fn local_forms() {
        assert!(RepoUrl::parse("/srv/git/fleet.git").local);
        assert!(RepoUrl::parse("./fleet").local);
        assert!(RepoUrl::parse("file:///srv/git/fleet.git").local);
        assert!(!RepoUrl::parse("git://127.0.0.1:9418/fleet").local);
    }
}
