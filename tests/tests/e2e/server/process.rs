//! `switchyard serve` as a real process, configured through the environment as an
//! operator would: it starts, prints a generated admin token once, answers, and exits
//! cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use switchyard_tests::switchyard_bin;

/// A running `switchyard serve` and the lines of its stderr so far.
pub(super) struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts a server on `database_url` that generates (or reuses) its admin token.
    fn start(database_url: &str) -> Self {
        Self::spawn(database_url, None, &[])
    }

    /// Starts a server on `database_url` with `SWITCHYARD_ADMIN_TOKEN=admin_token`.
    pub(super) fn start_with_admin_token(database_url: &str, admin_token: &str) -> Self {
        Self::spawn(database_url, Some(admin_token), &[])
    }

    /// [`Server::start_with_admin_token`] logging with the `RUST_LOG` filter `log`, for
    /// a test that waits for what the server logs.
    pub(super) fn start_with_log(database_url: &str, admin_token: &str, log: &str) -> Self {
        Self::spawn(database_url, Some(admin_token), &[("RUST_LOG", log)])
    }

    /// Like [`Server::start_with_admin_token`], with more environment variables (which
    /// may override `RUST_LOG=warn`).
    pub(super) fn start_with_env(
        database_url: &str,
        admin_token: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(database_url, Some(admin_token), env)
    }

    fn spawn(database_url: &str, admin_token: Option<&str>, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(switchyard_bin());
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SWITCHYARD_DATABASE_URL", database_url)
            .env_remove("SWITCHYARD_LISTEN");
        match admin_token {
            Some(token) => command.env("SWITCHYARD_ADMIN_TOKEN", token),
            None => command.env_remove("SWITCHYARD_ADMIN_TOKEN"),
        };
        command
            .env("RUST_LOG", "warn")
            .env_remove("SWITCHYARD_LOG_FORMAT");
        command.envs(env.iter().copied());
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("switchyard serve starts");
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the line that starts with `prefix` and returns the rest of it.
    pub(super) fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(e) => panic!("no `{prefix}` line ({e}); stderr so far: {:#?}", self.seen),
            }
        }
    }

    /// Waits for a line that contains `text` (a log line, whose start is a time stamp).
    pub(super) fn wait_for_line_with(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with `{text}` ({e}); stderr so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the rest of stderr.
    pub(super) fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal("TERM");
        let exit = self.child.wait().unwrap();
        (exit, self.rest_of_stderr())
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the process and returns at once.
    pub(super) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `within` for the process to exit, without blocking the test's
    /// runtime; returns its exit status and the rest of its stderr.
    pub(super) async fn exited(
        mut self,
        within: Duration,
    ) -> (std::process::ExitStatus, Vec<String>) {
        let start = std::time::Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return (exit, self.rest_of_stderr());
            }
            assert!(
                start.elapsed() < within,
                "the server did not exit within {within:?}; stderr so far: {:#?}",
                self.seen
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process wrote to stderr: the lines seen so far and the rest,
    /// up to its end (call once the process has exited).
    fn rest_of_stderr(&mut self) -> Vec<String> {
        let mut rest = std::mem::take(&mut self.seen);
        // The reader thread ends when the process closes stderr, ending this too.
        rest.extend(self.lines.iter());
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached if a test failed midway: do not leave a server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn serve_prints_a_generated_token_once_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db_file = dir.path().join("switchyard.db");
    let database_url = format!("sqlite://{}", db_file.display());

    let mut server = Server::start(&database_url);
    let token = server.wait_for("switchyard: admin token: ");
    let address = server.wait_for("switchyard: listening on ");
    assert!(
        db_file.exists(),
        "the SQLite file is created on first start"
    );
    assert_eq!(status(&format!("{address}/healthz"), None).await, 200);
    let groups = format!("{address}/api/v1/acd-groups");
    assert_eq!(status(&groups, Some(&token)).await, 200);
    assert_eq!(status(&groups, None).await, 401);
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    assert!(
        stderr.iter().any(|l| l == "switchyard: stopped"),
        "{stderr:#?}"
    );

    // The second start reuses the stored token and does not print it again.
    let mut server = Server::start(&database_url);
    let address = server.wait_for("switchyard: listening on ");
    let groups = format!("{address}/api/v1/acd-groups");
    assert_eq!(status(&groups, Some(&token)).await, 200);
    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(
        !stderr.iter().any(|l| l.contains(&token)),
        "the token is printed only at the first start: {stderr:#?}"
    );
}
