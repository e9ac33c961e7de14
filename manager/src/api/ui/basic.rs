//! HTTP Basic credentials (RFC 7617), the one way a browser can present a token when it
//! navigates to the status page: the browser asks its user once and sends them with every
//! request of the page. The password is the token; the user name is not looked at (the token
//! alone says who it is, as a bearer token does).

/// The challenge that makes a browser ask for credentials.
pub const CHALLENGE: &str = r#"Basic realm="kres-manager", charset="UTF-8""#;

/// The password of an `Authorization` value `Basic base64(user:password)`; `None` when the value
/// is not Basic credentials or not well-formed.
pub fn password(value: &[u8]) -> Option<Vec<u8>> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = decode_base64(value[6..].trim_ascii())?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// Standard base64 with padding (what browsers send); `None` for anything else.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    fn sextet(byte: u8) -> Option<u32> {
        Some(u32::from(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (index, quad) in text.chunks(4).enumerate() {
        let padding = quad.iter().rev().take_while(|b| **b == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != quads) {
            return None;
        }
        let mut bits = 0u32;
        for byte in &quad[..4 - padding] {
            bits = (bits << 6) | sextet(*byte)?;
        }
        bits <<= 6 * padding as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_token() {
        // base64("viewer:abc:def") — a colon in the password stays in it.
        assert_eq!(password(b"Basic dmlld2VyOmFiYzpkZWY="), Some(b"abc:def".to_vec()));
        assert_eq!(password(b"basic   OnRva2Vu  "), Some(b"token".to_vec()), "an empty user name");
        assert_eq!(password(b"Bearer dmlld2VyOmFiYw=="), None);
        assert_eq!(password(b"Basic bm8gY29sb24="), None, "no colon");
        assert_eq!(password(b"Basic *not base64*"), None);
        assert_eq!(password(b"Basic YQ=a"), None, "padding inside");
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64(b"TWFu").unwrap(), b"Man");
        assert_eq!(decode_base64(b"TWE=").unwrap(), b"Ma");
        assert_eq!(decode_base64(b"TQ==").unwrap(), b"M");
        assert_eq!(decode_base64(b"TQ"), None, "no padding");
    }
}
