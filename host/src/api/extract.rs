//! Extractors that answer a bad request with an [`ApiError`] instead of axum's plain
//! text: a JSON body ([`ApiJson`]) and path parameters ([`ApiPath`]), and the readers of
//! JSON and form bodies ([`parse_json`], [`parse_form`]). All name the input at fault in
//! the error's `field`.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::serve::is_body_timeout;

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

/// A form body (`application/x-www-form-urlencoded`), read by [`parse_form`]: the
/// Twilio-style dialects of gateways' posts. Errors are [`ApiJson`]'s.
pub struct ApiForm<T>(pub T);

impl<S, T> FromRequest<S> for ApiForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as a form with `Content-Type: application/x-www-form-urlencoded`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_form(&bytes).map(Self)
    }
}

/// Whether the body is declared a form (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

/// A body that could not be read: 413 `body_too_large` past the size limit, 408
/// `request_timeout` when it stalled past the server's body timeout, else 400
/// `bad_request` (a connection that broke off mid-body, say).
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the server accepts",
        )
    } else if is_body_timeout(&e) {
        ApiError::client(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stopped arriving; send it without pauses",
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
        } else if is_not_unicode(&inner) {
            // As a form's field is: the field is named, whatever the body's dialect.
            not_utf8(&name_field(&path, "").0)
        } else {
            malformed(inner)
        }
    })?;
    // Trailing characters after the value.
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

/// Whether serde_json refused a string for its encoding: bytes that are not UTF-8, or
/// an escape of half a surrogate pair, which no UTF-8 text can hold either (serde_json
/// says "unexpected end of hex escape" when the other half is missing).
fn is_not_unicode(e: &serde_json::Error) -> bool {
    let message = e.to_string();
    ["invalid unicode code point", "unexpected end of hex escape"]
        .iter()
        .any(|start| message.starts_with(start))
        || message.contains("surrogate")
}

/// 422 `invalid_field`: `field`'s value is not UTF-8 text. Refused rather than stored
/// with replacement characters, which would change what the sender wrote.
fn not_utf8(field: &str) -> ApiError {
    ApiError::invalid(field, "is not valid UTF-8 text")
}

/// Reads a form body (`application/x-www-form-urlencoded`) as a `T`. A name or value
/// that is not UTF-8 once percent-decoded is refused naming its field, as
/// [`parse_json`] refuses it; a missing or wrong-typed field is 422 `invalid_field`,
/// as in JSON.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = non_utf8_form_field(bytes) {
        return Err(not_utf8(&field));
    }
    serde_urlencoded::from_bytes(bytes).map_err(|e| field_error(".", &e.to_string()))
}

/// The name of the first field of a form whose name or value is not UTF-8 once
/// decoded (`+` as a space, `%XX` as a byte), as far as it can be read.
fn non_utf8_form_field(form: &[u8]) -> Option<String> {
    form.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let name = percent_decode(parts.next().unwrap_or_default());
            let value = percent_decode(parts.next().unwrap_or_default());
            let valid = std::str::from_utf8(&name).is_ok() && std::str::from_utf8(&value).is_ok();
            (!valid).then(|| String::from_utf8_lossy(&name).into_owned())
        })
}

/// Form decoding of one name or value: `+` is a space and `%XX` a byte; a `%` not
/// followed by two hex digits stands for itself, as browsers and Twilio send it.
fn percent_decode(text: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match (text[i], hex(text.get(i + 1)), hex(text.get(i + 2))) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 2;
            }
            (other, _, _) => out.push(other),
        }
        i += 1;
    }
    out
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
    fn forms_are_decoded_as_browsers_encode_them() {
        assert_eq!(percent_decode(b"a+b%20c%2"), b"a b c%2");
        assert_eq!(percent_decode(b"caf%C3%A9%zz"), "café%zz".as_bytes());
        assert_eq!(percent_decode(b"%FF"), [0xFF]);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_naming_its_field_in_either_dialect() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Post {
            #[serde(rename = "Body")]
            body: String,
        }
        assert_eq!(non_utf8_form_field(b"From=x&Body=caf%C3%A9"), None);
        assert_eq!(
            non_utf8_form_field(b"From=x&Body=caf%FF").as_deref(),
            Some("Body")
        );
        assert_eq!(
            non_utf8_form_field(b"Body=caf\xff").as_deref(),
            Some("Body")
        );
        let e = parse_form::<Post>(b"Body=caf%E9").unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{e:?}").contains("Some(\"Body\")"), "{e:?}");
        // Lossy decoding would have made it "caf\u{FFFD}"; a valid form still parses.
        assert_eq!(parse_form::<Post>(b"Body=caf%C3%A9").unwrap().body, "café");

        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Sms {
            text: String,
        }
        for body in [
            &b"{\"text\": \"caf\xff\"}"[..],
            br#"{"text": "\ud800"}"#,
            br#"{"text": "\udc00"}"#,
            br#"{"text": "\ud800\u0041"}"#,
        ] {
            let e = parse_json::<Sms>(body).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY, "{e:?}");
            assert!(format!("{e:?}").contains("Some(\"text\")"), "{e:?}");
        }
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
