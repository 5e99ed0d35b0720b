//! A fuzz run of the inbound email readers: valid mails cut, spliced and flipped byte
//! by byte, and MIME's own tokens (boundaries, encodings, headers) thrown in where they
//! hurt, must each end in an email or a refusal, never a panic. Deterministic (a fixed
//! seed), so a failure reproduces; tens of thousands of cases in a unit test.

use super::relays::{self, MailgunPost, PostmarkInbound};
use super::{EmailRefusal, mime};

/// xorshift64*: no dependency, same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CORPUS: [&str; 4] = [
    "From: a@example.com\r\nTo: s@shop.example\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\
     Message-ID: <x@y>\r\n\r\nhello\r\n",
    "From: \"A, B\" <a@example.com>\r\nTo: s@shop.example, t@shop.example\r\nCc: c@x.org\r\n\
     In-Reply-To: <p@q>\r\nReferences: <o@q> <p@q>\r\nMIME-Version: 1.0\r\n\
     Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
     Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
     Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
     Gr=FC=DFe=\r\n aus Berlin\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>Gr&uuml;&szlig;e</p>\r\n\
     --inner--\r\n--outer\r\nContent-Type: application/pdf; name=a.pdf\r\n\
     Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\
     Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--outer--\r\n",
    "From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\n\
     Subject: inner\r\n\r\nforwarded\r\n",
    "From: a@example.com\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\n\
     Content-Type: text/html\r\n\r\n<img src=cid:i@x><script>x</script>\r\n--b\r\n\
     Content-Type: image/png\r\nContent-ID: <i@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
     iVBORw0KGgo=\r\n--b--\r\n",
];

/// Pieces that make MIME parsers work hardest.
const TOKENS: [&str; 16] = [
    "\r\n",
    "\r\n\r\n",
    "--outer",
    "--inner--",
    "boundary=\"",
    "=?UTF-8?Q?",
    "=?",
    "?=",
    "=\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Type: multipart/mixed; boundary=z\r\n",
    "\0",
    "\u{feff}",
    "<",
    ">",
    "\"",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 => bytes.truncate(at),
            1 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] = rng.next() as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                // A slice of the mail repeated: nested parts, duplicated headers.
                let end = (at + rng.below(200)).min(bytes.len());
                let copy = bytes[at.min(end)..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => {
                let end = (at + rng.below(50)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
        }
    }
    bytes
}

#[test]
fn mutated_mime_never_panics() {
    let mut rng = Rng(0x5eed_2026_1207);
    let (mut parsed, mut refused) = (0, 0);
    for case in 0..20_000 {
        let base = CORPUS[case % CORPUS.len()].as_bytes();
        let bytes = mutate(&mut rng, base);
        match std::panic::catch_unwind(|| mime::parse(&bytes)) {
            Ok(Ok(email)) => {
                parsed += 1;
                assert!(!email.message_id.is_empty());
                assert!(email.from.address.contains('@'));
            }
            Ok(Err(EmailRefusal::Malformed(_) | EmailRefusal::Invalid(_))) => refused += 1,
            Ok(Err(EmailRefusal::TooLarge(m))) => panic!("case {case}: too large? {m}"),
            Err(_) => panic!(
                "case {case} panicked on {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    // Both sides were exercised: most mutations still parse, some are refused.
    assert!(
        parsed > 5_000 && refused > 0,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn mutated_relay_posts_never_panic() {
    let mut rng = Rng(0x00c0_ffee);
    let postmark = r#"{"From":"a@example.com","FromFull":{"Email":"a@example.com","Name":"A"},
        "To":"\"S, T\" <s@shop.example>","Subject":"x","TextBody":"t","HtmlBody":"<p>t</p>",
        "Headers":[{"Name":"Message-ID","Value":"<m@x>"},{"Name":"References","Value":"<a@b> <c@d>"}],
        "Attachments":[{"Name":"f","Content":"aGVsbG8=","ContentType":"text/plain"}]}"#;
    for case in 0..10_000 {
        let bytes = mutate(&mut rng, postmark.as_bytes());
        let result = std::panic::catch_unwind(|| {
            if let Ok(post) = serde_json::from_slice::<PostmarkInbound>(&bytes) {
                let _ = relays::postmark(post);
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let fields = vec![
                ("from".to_owned(), text.clone()),
                ("message-headers".to_owned(), text.clone()),
                ("References".to_owned(), text),
            ];
            let _ = relays::mailgun(MailgunPost {
                fields,
                files: Vec::new(),
            });
        });
        assert!(
            result.is_ok(),
            "case {case} panicked on {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}
