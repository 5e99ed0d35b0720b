//! The two encodings the request needs: `application/x-www-form-urlencoded` for the
//! body and base64 for HTTP Basic auth.
//!
//! Both are a dozen lines, written here rather than pulled in as crates so the plugin
//! keeps to the guest SDK and serde_json (small component, nothing to check for wasm32).

/// `pairs` as an `application/x-www-form-urlencoded` body, in the given order.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_component(name, &mut out);
        out.push('=');
        form_component(value, &mut out);
    }
    out
}

/// The WHATWG URL Standard's urlencoded serializer (what browsers send, and what
/// Twilio's own libraries send): UTF-8 bytes, ASCII letters, digits and `*-._` as they
/// are, a space as `+`, every other byte as `%XX` in upper-case hex. So a literal `+`,
/// as in every E.164 number, goes out as `%2B` and is never read back as a space.
fn form_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
}

/// Standard base64 (RFC 4648, with `+`, `/` and `=` padding), as HTTP Basic auth
/// (RFC 7617) wants it.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (i, &byte)| {
            group | u32::from(byte) << (16 - 8 * i)
        });
        // A chunk of n bytes carries n + 1 sextets; `=` pads the group to four.
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[(group >> (18 - 6 * i) & 0x3f) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        // RFC 7617's example, and bytes that use the last two alphabet characters.
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(base64("é".as_bytes()), "w6k=");
    }

    #[test]
    fn form_fields_are_joined_with_ampersands_in_the_given_order() {
        assert_eq!(form(&[]), "");
        assert_eq!(form(&[("To", "x")]), "To=x");
        assert_eq!(form(&[("B", "2"), ("A", "1")]), "B=2&A=1");
        assert_eq!(form(&[("Empty", "")]), "Empty=");
    }

    #[test]
    fn form_values_escape_everything_but_letters_digits_and_star_dash_dot_underscore() {
        assert_eq!(form(&[("To", "+32470123456")]), "To=%2B32470123456");
        assert_eq!(form(&[("Body", "a&b=c+d e")]), "Body=a%26b%3Dc%2Bd+e");
        assert_eq!(form(&[("Body", "*-._~!'()")]), "Body=*-._%7E%21%27%28%29");
        assert_eq!(form(&[("Body", "50%\r\n")]), "Body=50%25%0D%0A");
        assert_eq!(
            form(&[("Body", "https://cb.example/s?a=1#f")]),
            "Body=https%3A%2F%2Fcb.example%2Fs%3Fa%3D1%23f"
        );
        // Names are encoded the same way as values.
        assert_eq!(form(&[("a b&c", "1")]), "a+b%26c=1");
    }

    #[test]
    fn form_values_are_utf8_percent_encoded() {
        assert_eq!(form(&[("Body", "Zoë")]), "Body=Zo%C3%AB");
        assert_eq!(form(&[("Body", "€")]), "Body=%E2%82%AC");
        assert_eq!(form(&[("Body", "👋")]), "Body=%F0%9F%91%8B");
        assert_eq!(form(&[("Body", "日本")]), "Body=%E6%97%A5%E6%9C%AC");
    }
}
