//! Building the [`HttpRequest`] a gateway plugin asks the host to perform, and reading
//! the [`HttpResponse`] it gets back.

use serde::de::DeserializeOwned;

use crate::{HttpMethod, HttpRequest, HttpResponse};

impl HttpRequest {
    /// A request with no headers and an empty body.
    pub fn new(method: HttpMethod, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A GET request for `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(HttpMethod::Get, url)
    }

    /// A POST request to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(HttpMethod::Post, url)
    }

    /// A PUT request to `url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(HttpMethod::Put, url)
    }

    /// Append a header; repeated names are sent repeatedly.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name`, compared without regard to ASCII case as HTTP
    /// header names are.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_builder_keeps_headers_in_order() {
        let request = HttpRequest::post("https://sms.example/send")
            .header("Content-Type", "application/json")
            .header("X-Key", "k")
            .body(r#"{"to":"+3212"}"#);
        assert_eq!(request.method, HttpMethod::Post);
        assert_eq!(request.headers[0].0, "Content-Type");
        assert_eq!(request.headers[1].0, "X-Key");
        assert_eq!(request.body, br#"{"to":"+3212"}"#.to_vec());
    }

    #[test]
    fn response_helpers_read_status_headers_and_body() {
        let response = HttpResponse {
            status: 202,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"id":"abc"}"#.to_vec(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.text(), Some(r#"{"id":"abc"}"#));
        let parsed: serde_json::Value = response.json().unwrap();
        assert_eq!(parsed["id"], "abc");
    }
}
