//! The API's one error type. Client errors (4xx) carry a code and a message for the
//! caller as `{"error": {"code": "...", "message": "...", "field": "..."}}` (`field`
//! only when one input names the problem: a body field, a path or query parameter);
//! server errors (5xx) are
//! logged with their cause and answered with a generic message, so database details
//! never reach a caller.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::acd_groups::FieldError;
use crate::store::StoreError;

/// The code of every server error.
const INTERNAL: &str = "internal";

#[derive(Debug)]
pub enum ApiError {
    /// The caller's mistake: the status, a stable machine-readable code, and a message.
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
        /// The input the problem is in, when there is one to name.
        field: Option<String>,
    },
    /// Ours: logged, then answered with 500 and no details.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the input (body field, path or query parameter) the problem is in.
    pub fn with_field(self, name: impl Into<String>) -> Self {
        match self {
            Self::Client {
                status,
                code,
                message,
                ..
            } => Self::Client {
                status,
                code,
                message,
                field: Some(name.into()),
            },
            internal => internal,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422 `invalid_field` naming `field`: what [`StoreError::Invalid`] answers too.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: {}", message.into()),
        )
        .with_field(field)
    }

    /// Whether the caller is to blame (a 4xx answer).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Client { .. })
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// The code the answer carries (`internal` for server errors).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client { code, .. } => code,
            Self::Internal(_) => INTERNAL,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        )
        .with_field(e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => Self::client(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::NotFound(what) => Self::not_found(format!("{what} not found")),
            StoreError::Conflict(message) => {
                Self::client(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::Invalid { field, message } => Self::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("{field}: {message}"),
            )
            .with_field(field),
            other => Self::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            Self::Client {
                status,
                code,
                message,
                field,
            } => (status, code, message, field),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL,
                    "internal server error; the server log has the details".to_owned(),
                    None,
                )
            }
        };
        let mut error = json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = json!(field);
        }
        let body = json!({ "error": error });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the caller which scheme is expected.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let response =
            ApiError::Internal(anyhow::anyhow!("password authentication failed")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body(response).await.to_string();
        assert!(!text.contains("password"), "{text}");
        assert!(text.contains("\"internal\""), "{text}");
    }

    #[tokio::test]
    async fn store_conflicts_become_409_naming_the_duplicate() {
        let response =
            ApiError::from(StoreError::Duplicate("an ACD group named `x`".into())).into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let json = body(response).await;
        assert_eq!(json["error"]["code"], "conflict");
        assert_eq!(
            json["error"]["message"],
            "an ACD group named `x` already exists"
        );
    }
}
