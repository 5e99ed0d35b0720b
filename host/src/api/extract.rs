//! Extractors that answer a bad request with an [`ApiError`] instead of axum's plain
//! text: a JSON body ([`ApiJson`]) and path parameters ([`ApiPath`]). Both name the
//! input at fault in the error's `field`.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body. Syntax errors are 400 `malformed_json`; a body that is JSON but
/// does not fit (a missing, unknown or wrong-typed field) is 422 `invalid_field` with
/// `field` naming it, like any other field that breaks a rule.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Self)
    }
}

/// A body that could not be read: 413 `body_too_large` past the size limit, else 400
/// `bad_request` (a connection that broke off mid-body, say).
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::client(e.status(), "bad_request", e.body_text())
    }
}

/// `application/json` or any `application/*+json`, as axum's own extractor accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads `bytes` as a `T`, with the errors [`ApiJson`] answers.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |e: serde_json::Error| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    };
    if contains(bytes, b"_rfc3339") {
        // The RFC 3339 twins of times the server added to what the client read.
        let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
        super::times::strip_rfc3339(&mut value);
        return from_value(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            field_error(&path, &inner.to_string())
        } else {
            malformed(inner)
        }
    })?;
    // Trailing characters after the value.
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads a JSON value that was assembled by the server (a PATCH merged onto the stored
/// resource) as a `T`, with the same field errors as [`parse_json`].
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        field_error(&path, &e.into_inner().to_string())
    })
}

/// 422 `invalid_field` for a deserialisation error `message` at `path` (serde's message
/// and serde_path_to_error's path, `.` at the top).
pub fn field_error(path: &str, message: &str) -> ApiError {
    let (field, message) = name_field(path, message);
    ApiError::client(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field}: {message}"),
    )
    .with_field(field)
}

/// The field a serde error is about, and its message without serde_json's position:
/// a missing or unknown field is named in the message, one level below the path where
/// the error was raised; any other error is about the path itself (`body` when that is
/// the whole body).
pub fn name_field(path: &str, message: &str) -> (String, String) {
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let path = path.trim_matches('.');
    // An unknown field's path already ends with it; a missing one's is its parent.
    let at_field = |name: &str| path.rsplit('.').next() == Some(name);
    let field = match named {
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) if at_field(name) => path.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None if path.is_empty() => "body".to_owned(),
        None => path.to_owned(),
    };
    (field, message.to_owned())
}

/// Path parameters. A parameter that does not parse (`/acd-groups/abc`) names no
/// existing resource, so it is a 404 like an id that parses but is unknown, with the
/// parameter named in the message and in `field`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|raw| raw.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                let (name, value, expected) = match e.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => (Some(key.clone()), value.clone(), *expected_type),
                    ErrorKind::ParseErrorAtIndex {
                        index,
                        value,
                        expected_type,
                    } => (names.get(*index).cloned(), value.clone(), *expected_type),
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => (names.first().cloned(), value.clone(), *expected_type),
                    _ => (None, String::new(), ""),
                };
                Err(match name {
                    Some(name) => ApiError::not_found(format!(
                        "path parameter `{name}` must be {}, not `{value}`",
                        describe_type(expected)
                    ))
                    .with_field(name),
                    None => ApiError::not_found(format!("no such resource: {}", e.body_text())),
                })
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(
                "path extraction failed: {}",
                other.body_text()
            ))),
        }
    }
}

/// A Rust type name as a caller would understand it.
fn describe_type(rust: &str) -> &'static str {
    match rust {
        "i64" | "i32" | "u64" | "u32" | "u16" | "u8" | "i16" | "i8" => "a whole number",
        _ => "a valid value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unknown_fields_are_named_below_their_path() {
        assert_eq!(
            name_field(".", "missing field `name` at line 1 column 25").0,
            "name"
        );
        assert_eq!(
            name_field(
                "plugin_limits.fuels",
                "unknown field `fuels`, expected one of `fuel`"
            )
            .0,
            "plugin_limits.fuels"
        );
        assert_eq!(
            name_field("plugin_limits", "missing field `fuel`").0,
            "plugin_limits.fuel"
        );
        let (field, message) = name_field(
            "port",
            "invalid type: string \"x\", expected u16 at line 1 column 12",
        );
        assert_eq!(field, "port");
        assert_eq!(message, "invalid type: string \"x\", expected u16");
        assert_eq!(
            name_field(".", "invalid type: integer `7`, expected a map").0,
            "body"
        );
    }

    #[test]
    fn json_errors_tell_syntax_from_fields() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Body {
            name: String,
        }
        let e = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{e:?}").contains("Some(\"name\")"), "{e:?}");
        let e = parse_json::<Body>(br#"{"name": "a"} x"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        // What the server adds to times is dropped when a client sends it back.
        let body: Body =
            parse_json(br#"{"name": "a", "created_at_rfc3339": "1970-01-01T00:00:00.000Z"}"#)
                .unwrap();
        assert_eq!(body.name, "a");
    }
}
