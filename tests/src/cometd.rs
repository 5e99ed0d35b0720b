//! Real CometD clients as processes: the scripts in `tests/clients` (the CometD
//! project's JavaScript client in Node, and aiocometd in Python), each printing one JSON
//! line per event. A test starts one against a server, then waits for the lines it
//! expects. `.ci/install-toolchains.sh` installs what they need; a missing client
//! fails the test rather than skipping it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::repo_root;

/// Which client, and over which transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// npm `cometd` in Node, long-polling only, with the ack extension.
    NodeLongPolling,
    /// npm `cometd` in Node, WebSocket only, with the ack extension.
    NodeWebSocket,
    /// aiocometd: handshakes over long-polling, then WebSocket.
    Python,
}

/// A running client; killed when dropped.
pub struct CometdClient {
    kind: ClientKind,
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every line received so far, in order.
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

fn clients_dir() -> PathBuf {
    repo_root().join("tests/clients")
}

impl CometdClient {
    /// Starts `kind` against `url` (the server's `/cometd`) as the agent with `token`.
    pub fn start(kind: ClientKind, url: &str, token: &str) -> Self {
        let dir = clients_dir();
        let mut command = match kind {
            ClientKind::NodeLongPolling | ClientKind::NodeWebSocket => {
                assert!(
                    dir.join("node_modules/cometd-nodejs-client").is_dir(),
                    "the CometD JavaScript client is not installed; run .ci/install-toolchains.sh"
                );
                let transport = if kind == ClientKind::NodeWebSocket {
                    "websocket"
                } else {
                    "long-polling"
                };
                let mut command = Command::new("node");
                command.args([
                    "agent.mjs",
                    "--url",
                    url,
                    "--token",
                    token,
                    "--transport",
                    transport,
                ]);
                command
            }
            ClientKind::Python => {
                let python = repo_root().join(".venv-tools/bin/python");
                assert!(
                    python.exists(),
                    "{} is missing; run .ci/install-toolchains.sh",
                    python.display()
                );
                let mut command = Command::new(python);
                command.args(["agent.py", "--url", url, "--token", token]);
                command
            }
        };
        let mut child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {kind:?} CometD client: {e}"));
        let (sender, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "event": "unparsed", "line": line }));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let errors = child.stderr.take().expect("piped stderr");
        let collected = stderr.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(errors).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut text = collected.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self {
            kind,
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The first line (among those seen so far and those to come) that `matches`,
    /// waiting at most `within`; panics with everything the client said otherwise.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(found) = self.seen.iter().find(|line| matches(line)) {
            return found.clone();
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Ok(None) | Err(_) => panic!(
                    "the {:?} client gave no {what} within {within:?}; it printed {:#?}\nand on stderr:\n{}",
                    self.kind,
                    self.seen,
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Reads what the client prints for `period`, then returns every line so far.
    pub async fn lines_after(&mut self, period: Duration) -> &[Value] {
        let deadline = tokio::time::Instant::now() + period;
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, self.lines.recv()).await {
            self.seen.push(line);
        }
        &self.seen
    }

    /// The notifications received so far: the `data` of each message line.
    pub fn messages(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|line| line["event"] == "message")
            .map(|line| line["data"].clone())
            .collect()
    }

    /// What the client wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
