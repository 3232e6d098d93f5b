//! SSH host-key verification against a known_hosts file that rudder parses
//! itself: libgit2 only consults `~/.ssh/known_hosts` of the process, and an
//! agent in a pod must check the file mounted for it, and refuse (never
//! trust on first use) a host it does not list.
//!
//! Supported: plain host patterns (`host`, `[host]:port`, comma lists, `*`
//! and `?` wildcards, `!` negation), hashed entries (`|1|salt|hash`, HMAC-
//! SHA1 as `ssh-keygen -H` writes them) and `@revoked` lines.
//! `@cert-authority` lines are skipped: host certificates are not checked.

use base64::Engine as _;

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host lists exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host, but with other keys.
    Mismatch,
    /// The key is listed as `@revoked`.
    Revoked,
}

/// The name OpenSSH matches patterns against: `host` on port 22,
/// `[host]:port` elsewhere.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks the raw SSH wire-format public key `key` of `host` (as given by
/// [`host_key_name`]) against the known_hosts text.
pub fn check(known_hosts: &str, host: &str, key: &[u8]) -> Verdict {
    let mut named = false;
    let mut known = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = if first.starts_with('@') {
            let m = first;
            first = fields.next().unwrap_or_default();
            Some(m)
        } else {
            None
        };
        let (Some(_key_type), Some(blob)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !hosts_match(first, host) {
            continue;
        }
        let Ok(listed) = base64::engine::general_purpose::STANDARD.decode(blob) else {
            continue;
        };
        match marker {
            Some("@revoked") if listed == key => return Verdict::Revoked,
            Some(_) => {}
            None => {
                named = true;
                known |= listed == key;
            }
        }
    }
    match (known, named) {
        (true, _) => Verdict::Known,
        (false, true) => Verdict::Mismatch,
        (false, false) => Verdict::Unknown,
    }
}

/// Whether a host-pattern field matches `host`: a hashed entry, or a comma
/// list where any negated match wins.
fn hosts_match(field: &str, host: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, host);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard(negated, host) {
                return false;
            }
        } else if wildcard(pattern, host) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(field: &str, host: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = field.split_once('|') else {
        return false;
    };
    match (engine.decode(salt), engine.decode(hash)) {
        (Ok(salt), Ok(hash)) => hmac_sha1(&salt, host.as_bytes())[..] == *hash,
        _ => false,
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character; host names
/// compare case-insensitively.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// HMAC-SHA1 (RFC 2104), only to match hashed known_hosts names; SHA-1 is
/// what OpenSSH uses there and no SHA-1 crate is among our dependencies.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&sha1(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

/// SHA-1 (FIPS 180-4).
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..20 => ((b & c) | (!b & d), 0x5A827999),
                20..40 => (b ^ c ^ d, 0x6ED9EBA1),
                40..60 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn sha1_and_hmac_match_published_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(&[b'a'; 1000])),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
        // RFC 2202, test case 2.
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn plain_and_bracketed_entries() {
        let file = format!(
            "# comment\ngithub.com ssh-ed25519 {KEY_B}\n[127.0.0.1]:2222,other ssh-ed25519 {KEY_A} c\n"
        );
        let host = host_key_name("127.0.0.1", 2222);
        assert_eq!(check(&file, &host, &key(KEY_A)), Verdict::Known);
        assert_eq!(check(&file, &host, &key(KEY_B)), Verdict::Mismatch);
        // Port 22 is written without brackets, and a different port is a
        // different host.
        assert_eq!(
            check(&file, &host_key_name("127.0.0.1", 22), &key(KEY_A)),
            Verdict::Unknown
        );
        assert_eq!(
            check(&file, &host_key_name("GitHub.com", 22), &key(KEY_B)),
            Verdict::Known
        );
    }

    #[test]
    fn wildcards_negation_and_revocation() {
        let file = format!(
            "*.example.com,!evil.example.com ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_B}\n"
        );
        assert_eq!(check(&file, "git.example.com", &key(KEY_A)), Verdict::Known);
        assert_eq!(
            check(&file, "evil.example.com", &key(KEY_A)),
            Verdict::Unknown
        );
        assert_eq!(
            check(&file, "git.example.com", &key(KEY_B)),
            Verdict::Revoked
        );
        assert!(wildcard("g?t.*", "git.example.com"));
        assert!(!wildcard("g?t", "gitx"));
    }

    #[test]
    fn hashed_entries_match_their_host_only() {
        // `ssh-keygen -H` form: |1|base64(salt)|base64(HMAC-SHA1(salt, host)).
        let engine = base64::engine::general_purpose::STANDARD;
        let salt = b"0123456789abcdefghij";
        let name = host_key_name("127.0.0.1", 2222);
        let field = format!(
            "|1|{}|{}",
            engine.encode(salt),
            engine.encode(hmac_sha1(salt, name.as_bytes()))
        );
        let file = format!("{field} ssh-ed25519 {KEY_A}\n");
        assert_eq!(check(&file, &name, &key(KEY_A)), Verdict::Known);
        assert_eq!(
            check(&file, "[127.0.0.1]:2223", &key(KEY_A)),
            Verdict::Unknown
        );
    }
}
