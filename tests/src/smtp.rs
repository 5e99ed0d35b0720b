//! A real SMTP server for the tests: aiosmtpd (`tests/fixtures/smtp_sink.py`) in a
//! child process, and the messages it accepted, parsed with mail-parser.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::repo_root;

/// A running SMTP sink; stopped when dropped.
pub struct SmtpSink {
    port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
    _child: Child,
}

/// One message the sink accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message as it came over the wire (headers and body).
    pub data: String,
}

impl ReceivedMail {
    /// A header's decoded value (encoded words are decoded).
    pub fn header(&self, name: &str) -> Option<String> {
        let message = mail_parser::MessageParser::default().parse(self.data.as_bytes())?;
        let value = message.header(name)?;
        match value {
            mail_parser::HeaderValue::Text(t) => Some(t.to_string()),
            mail_parser::HeaderValue::TextList(list) => Some(list.join(", ")),
            other => Some(format!("{other:?}")),
        }
    }

    /// The decoded plain-text body.
    pub fn body_text(&self) -> String {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
            .unwrap_or_default()
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::spawn(&[]).await
    }

    /// A sink that requires AUTH (PLAIN or LOGIN) with these credentials.
    pub async fn start_with_auth(user: &str, password: &str) -> Self {
        Self::spawn(&["--user", user, "--password", password]).await
    }

    async fn spawn(extra: &[&str]) -> Self {
        let python = repo_root().join(".venv-tools/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run .ci/install-toolchains.sh (it installs aiosmtpd)",
            python.display()
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("mail.jsonl");
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/fixtures/smtp_sink.py"))
            .arg("0")
            .arg(&file)
            .args(extra)
            // The sink ends when its stdin closes, i.e. when this process goes away.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP sink starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the SMTP sink starts within 20 s")
        .expect("the SMTP sink prints its port");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP sink: {line:?}"));
        Self {
            port,
            file,
            _dir: dir,
            _child: child,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("the sink writes JSON lines"))
            .collect()
    }

    /// Waits until at least `n` messages arrived (or `within` passed) and returns all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let start = Instant::now();
        loop {
            let mails = self.received();
            if mails.len() >= n || start.elapsed() > within {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
