//! Extractors that answer a bad request with an [`ApiError`] instead of axum's plain
//! text: a JSON body ([`ApiJson`]) and path parameters ([`ApiPath`]).

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body. Rejections keep axum's status and its explanation (which
/// names serde's problem, e.g. the missing field and where), with a stable code.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match &rejection {
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::JsonDataError(_) => "invalid_body",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        _ => "bad_request",
    };
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than the server accepts".to_owned()
    } else {
        rejection.body_text()
    };
    ApiError::client(status, code, message)
}

/// Path parameters. A parameter that does not parse (`/acd-groups/abc`) names no
/// existing resource, so it is a 404, like an id that parses but is unknown.
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
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::not_found(
                format!("no such resource: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(
                "path extraction failed: {}",
                other.body_text()
            ))),
        }
    }
}
