//! Webhook verification (pure): GitHub's `X-Hub-Signature-256` and the
//! generic `X-Rudder-Signature` (both `sha256=<hex>` of the HMAC-SHA256 of
//! the body) and GitLab's `X-Gitlab-Token` (the secret itself). Every
//! comparison takes the same time whatever the input, so a caller learns
//! nothing from how long a refusal took.

use sha2::{Digest, Sha256};

/// Largest webhook body accepted (GitHub's own limit is 25 MB; a push
/// event is a few kB; anything much larger is not a push).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Which provider's scheme a delivery uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Generic,
}

impl Provider {
    /// The header carrying the signature or token.
    pub fn header(self) -> &'static str {
        match self {
            Provider::GitHub => "x-hub-signature-256",
            Provider::GitLab => "x-gitlab-token",
            Provider::Generic => "x-rudder-signature",
        }
    }
}

/// Whether `header` (the provider's header value, absent when `None`)
/// proves that `body` was sent by someone holding `secret`.
pub fn verify(provider: Provider, secret: &[u8], header: Option<&[u8]>, body: &[u8]) -> bool {
    let Some(header) = header else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    match provider {
        Provider::GitLab => constant_time_eq(header, secret),
        Provider::GitHub | Provider::Generic => {
            let Some(hex) = header.strip_prefix(b"sha256=") else {
                return false;
            };
            let expected = to_hex(&hmac_sha256(secret, body));
            constant_time_eq(&hex.to_ascii_lowercase(), expected.as_bytes())
        }
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block_key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Equal bytes, in time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_hashes_keys_longer_than_a_block() {
        // RFC 4231 test case 6: a 131-byte key.
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            to_hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn github_signature_is_accepted_and_a_wrong_one_refused() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", to_hex(&hmac_sha256(b"s3cret", body)));
        assert!(verify(
            Provider::GitHub,
            b"s3cret",
            Some(good.as_bytes()),
            body
        ));
        assert!(!verify(
            Provider::GitHub,
            b"other",
            Some(good.as_bytes()),
            body
        ));
        assert!(!verify(
            Provider::GitHub,
            b"s3cret",
            Some(good.as_bytes()),
            b"{}"
        ));
        assert!(!verify(Provider::GitHub, b"s3cret", None, body));
        let bare = to_hex(&hmac_sha256(b"s3cret", body));
        assert!(!verify(
            Provider::Generic,
            b"s3cret",
            Some(bare.as_bytes()),
            body
        ));
    }

    #[test]
    fn gitlab_token_must_equal_the_secret() {
        assert!(verify(Provider::GitLab, b"tok", Some(b"tok"), b"anything"));
        assert!(!verify(
            Provider::GitLab,
            b"tok",
            Some(b"tok2"),
            b"anything"
        ));
        assert!(!verify(Provider::GitLab, b"", Some(b""), b"anything"));
    }

    #[test]
    fn constant_time_eq_compares_whole_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
