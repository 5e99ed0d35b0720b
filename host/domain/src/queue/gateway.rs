//! What a gateway plugin asks the host to send, and what it made of the answer.

use serde::{Deserialize, Serialize};

use super::ProcessError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
}

/// An HTTP request described by a gateway plugin, performed by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequestSpec {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The gateway's answer, handed back to the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponseData {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A gateway plugin's verdict on a send attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendResult {
    Sent(Option<String>),
    Failed(ProcessError),
    Retry(ProcessError),
}

/// An SMS request body is a few hundred bytes; 1 MiB is ample for any gateway's JSON.
pub const MAX_REQUEST_BODY: usize = 1 << 20;
pub const MAX_HEADERS: usize = 32;
pub const MAX_URL: usize = 2_048;

impl HttpRequestSpec {
    /// Checks a plugin-built request before the host sends it anywhere.
    pub fn check(&self) -> Result<(), String> {
        if self.url.len() > MAX_URL {
            return Err(format!("the URL is longer than {MAX_URL} bytes"));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "the URL `{}` is not http(s)",
                crate::secrets::without_query(&self.url)
            ));
        }
        if self.headers.len() > MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} headers"));
        }
        for (name, value) in &self.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("`{name}` is not a valid header name"));
            }
            if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
                return Err(format!(
                    "the value of header `{name}` contains a line break"
                ));
            }
        }
        if self.body.len() > MAX_REQUEST_BODY {
            return Err(format!(
                "the body is {} bytes, the limit is {MAX_REQUEST_BODY}",
                self.body.len()
            ));
        }
        Ok(())
    }
}
