//! Credentials and server identity for one connection: libgit2 callbacks
//! that read the password or key from files at every connection (so rotated
//! mounted Secrets work), check SSH host keys against the configured
//! known_hosts file, and give up after one refused attempt instead of
//! letting libgit2 replay the same credentials; plus the mapping of
//! libgit2 errors onto [`SourceError`]s.
//!
//! The callbacks record why they stopped a connection in an [`Attempt`], so
//! the error names the real cause; no secret is ever put in a message.

use std::cell::{Cell, RefCell};

use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use super::known_hosts::{self, Verdict};
use super::url::RepoUrl;
use super::{Auth, SourceError};

/// What the callbacks saw during one connection.
#[derive(Default)]
pub struct Attempt {
    credentials_given: Cell<u32>,
    refused: RefCell<Option<String>>,
    host_key: RefCell<Option<(String, String)>>,
}

impl Attempt {
    fn refuse(&self, why: String) -> git2::Error {
        let e = git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, &why);
        *self.refused.borrow_mut() = Some(why);
        e
    }

    /// The [`SourceError`] for a libgit2 failure during this attempt.
    pub fn classify(&self, url: &RepoUrl, e: &git2::Error) -> SourceError {
        let repo = url.shown.clone();
        if let Some((host, message)) = self.host_key.borrow().clone() {
            return SourceError::HostKeyUnknown { host, message };
        }
        if let Some(message) = self.refused.borrow().clone() {
            return SourceError::AuthRefused { repo, message };
        }
        let message = clean(e.message(), url);
        match (e.code(), e.class()) {
            (ErrorCode::Auth, _) => SourceError::AuthRefused { repo, message },
            (ErrorCode::Certificate, _) => SourceError::HostKeyUnknown {
                host: url.shown.clone(),
                message,
            },
            (_, ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssh | ErrorClass::Ssl) => {
                SourceError::Unreachable { repo, message }
            }
            // An HTTP 5xx is the server being down behind a proxy; a 404 is
            // a wrong URL, which retrying will not fix.
            (_, ErrorClass::Http) if message.contains("status code: 5") => {
                SourceError::Unreachable { repo, message }
            }
            _ => SourceError::Git { repo, message },
        }
    }
}

/// libgit2's messages, with the URL as given replaced by the shown one in
/// case it carried a password.
fn clean(message: &str, url: &RepoUrl) -> String {
    let message = message.trim().trim_end_matches('.');
    if url.shown.is_empty() {
        return message.to_string();
    }
    // Any `scheme://user:secret@` in a message loses its secret.
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(['/', ' ']).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let user = authority[..at].split(':').next().unwrap_or_default();
                out.push_str(user);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The callbacks for one connection to `url` with `auth`.
pub fn callbacks<'a>(
    auth: &'a Auth,
    url: &'a RepoUrl,
    attempt: &'a Attempt,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, user_from_url, allowed| {
        credentials(auth, url, attempt, user_from_url, allowed)
    });
    cb.certificate_check(move |cert, host| {
        let Some(hostkey) = cert.as_hostkey() else {
            // TLS: libgit2 validates the chain against the system's CAs.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let port = url.ssh.as_ref().map_or(22, |s| s.port);
        let name = known_hosts::host_key_name(host, port);
        let fail = |message: String| {
            *attempt.host_key.borrow_mut() = Some((name.clone(), message.clone()));
            git2::Error::new(ErrorCode::Certificate, ErrorClass::Ssh, message)
        };
        let Auth::Ssh { known_hosts: file, .. } = auth else {
            return Err(fail(
                "no known_hosts file is configured; SSH needs a private key and a known_hosts file listing the server's key".into(),
            ));
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            fail(format!("cannot read the known_hosts file {}: {e}", file.display()))
        })?;
        let Some(key) = hostkey.hostkey() else {
            return Err(fail("the SSH library gave no raw host key to check".into()));
        };
        match known_hosts::check(&text, &name, key) {
            Verdict::Known => Ok(CertificateCheckStatus::CertificateOk),
            Verdict::Unknown => Err(fail(format!(
                "its host key is not in the known_hosts file {}; add the server's key (obtained out of band, e.g. `ssh-keyscan -p {port} {host}` checked against the server's own fingerprint) to that file",
                file.display()
            ))),
            Verdict::Mismatch => Err(fail(format!(
                "its host key does not match the key listed for {name} in the known_hosts file {}: the server's key changed or someone is in between; fix the known_hosts file only after checking the new key with the server's owner",
                file.display()
            ))),
            Verdict::Revoked => Err(fail(format!(
                "its host key is marked @revoked in the known_hosts file {}",
                file.display()
            ))),
        }
    });
    cb
}

fn credentials(
    auth: &Auth,
    url: &RepoUrl,
    attempt: &Attempt,
    user_from_url: Option<&str>,
    allowed: CredentialType,
) -> Result<Cred, git2::Error> {
    let ssh_user = || {
        user_from_url
            .map(str::to_string)
            .or_else(|| url.ssh.as_ref().and_then(|s| s.user.clone()))
            .unwrap_or_else(|| "git".to_string())
    };
    if allowed.contains(CredentialType::USERNAME) {
        return Cred::username(&ssh_user());
    }
    // libgit2 asks again after a refusal, with the same credentials we
    // would give: one try per connection, then a clear error.
    let tries = attempt.credentials_given.get();
    attempt.credentials_given.set(tries + 1);
    match auth {
        Auth::None => Err(attempt.refuse(
            "the server asks for credentials and none are configured (give an SSH key and known_hosts file, or a username and password file)".into(),
        )),
        Auth::Ssh { private_key, .. } => {
            if !allowed.contains(CredentialType::SSH_KEY) {
                return Err(attempt.refuse(
                    "the server does not accept SSH keys here; an SSH key is what is configured".into(),
                ));
            }
            let user = ssh_user();
            if tries > 0 {
                return Err(attempt.refuse(format!(
                    "user `{user}` with the key in {} was not accepted",
                    private_key.display()
                )));
            }
            if let Err(e) = std::fs::metadata(private_key) {
                return Err(attempt.refuse(format!(
                    "cannot read the SSH private key file {}: {e}",
                    private_key.display()
                )));
            }
            Cred::ssh_key(&user, None, private_key, None)
        }
        Auth::Basic { username, password_file } => {
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return Err(attempt.refuse(
                    "the server does not accept a username and password here; that is what is configured".into(),
                ));
            }
            let user = username
                .clone()
                .or_else(|| user_from_url.map(str::to_string))
                .unwrap_or_else(|| "git".to_string());
            if tries > 0 {
                return Err(attempt.refuse(format!(
                    "user `{user}` with the password from {} was not accepted",
                    password_file.display()
                )));
            }
            let password = std::fs::read_to_string(password_file).map_err(|e| {
                attempt.refuse(format!(
                    "cannot read the password file {}: {e}",
                    password_file.display()
                ))
            })?;
            // Mounted Secrets and `echo > file` end with a newline that is
            // not part of the password.
            Cred::userpass_plaintext(&user, password.trim_end_matches(['\n', '\r']))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_passwords() {
        let url = RepoUrl::parse("https://bot:hunter2@h/x");
        let m = clean("failed to fetch https://bot:hunter2@h/x: nope.", &url);
        assert_eq!(m, "failed to fetch https://bot@h/x: nope");
        assert!(!m.contains("hunter2"));
    }

    #[test]
    fn classification() {
        let url = RepoUrl::parse("git://127.0.0.1:1/x");
        let a = Attempt::default();
        let e = git2::Error::new(ErrorCode::GenericError, ErrorClass::Os, "failed to connect");
        assert_eq!(a.classify(&url, &e).code(), "RUD1001");
        let e = git2::Error::new(ErrorCode::Auth, ErrorClass::Http, "401");
        assert_eq!(a.classify(&url, &e).code(), "RUD1002");
        let e = git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Http,
            "unexpected http status code: 404",
        );
        assert_eq!(a.classify(&url, &e).code(), "RUD1005");
        let _ = a.refuse("no".into());
        assert_eq!(a.classify(&url, &e).code(), "RUD1002");
    }
}
