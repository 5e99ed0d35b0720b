//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every route the server
//! answers, assembled here from the handlers' `#[utoipa::path]` attributes and the
//! `ToSchema` types they read and write.
//!
//! Three things are added by rule rather than written on each handler, because they
//! follow from how the router is built and a rule cannot be forgotten on a new route:
//! the admin token (and its 401) on every route behind the admin middleware, 500 on
//! every route that reaches the database, and the RFC 3339 twin that [`super::times`]
//! adds beside every time in admin and third-party answers.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder, response::Response as Doc};
use utoipa::{OpenApi, ToResponse, ToSchema};

use super::routes::{ApiRouter, get};
use super::times::{OPAQUE, is_time_key};
use super::{Access, route_table};

pub fn router() -> ApiRouter {
    ApiRouter::new().route("/openapi.json", get(serve))
}

/// The document, built once: it depends on nothing but the code.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    summary = "This OpenAPI document",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)),
)]
pub(super) async fn serve() -> Response {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    let body = DOCUMENT
        .get_or_init(|| serde_json::to_vec(&document()).expect("the OpenAPI document serialises"));
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.as_slice(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "The admin API of a Switchyard server, the SMS Receiver API gateways \
                       post to, and the web API of third-party external systems. Times are \
                       milliseconds since the Unix epoch; admin and third-party answers carry \
                       each one's RFC 3339 twin beside it (`created_at_rfc3339`)."
    ),
    paths(
        super::healthz,
        super::metrics::scrape,
        serve,
        super::acd_groups::list,
        super::acd_groups::create,
        super::acd_groups::show,
        super::acd_groups::replace,
        super::acd_groups::modify,
        super::acd_groups::remove,
        super::connectors::list,
        super::connectors::create,
        super::connectors::show,
        super::connectors::replace,
        super::connectors::modify,
        super::connectors::remove,
        super::plugins::list,
        super::plugins::upload,
        super::plugins::activate,
        super::plugins::rollback,
        super::email_connectors::list,
        super::email_connectors::create,
        super::email_connectors::show,
        super::email_connectors::replace,
        super::email_connectors::modify,
        super::email_connectors::remove,
        super::plugins::email_list,
        super::plugins::email_upload,
        super::plugins::email_activate,
        super::plugins::email_rollback,
        super::interactions::list,
        super::interactions::show,
        super::interactions::list_messages,
        super::interactions::show_message,
        super::interactions::download_attachment,
        super::conversations::list,
        super::conversations::show,
        super::conversations::close,
        super::conversations::reopen,
        super::conversations::archive,
        super::conversations::unarchive,
        super::conversations::add_tags,
        super::conversations::remove_tag,
        super::queue::create,
        super::queue::list,
        super::queue::show,
        super::queue::remove,
        super::queue::process_one,
        super::queue::process_all,
        super::settings::email,
        super::settings::put_email,
        super::settings::sms,
        super::settings::put_sms,
        super::external_systems::list_plugins,
        super::external_systems::upload,
        super::external_systems::list,
        super::external_systems::create,
        super::external_systems::show,
        super::external_systems::update,
        super::external_systems::remove,
        super::external_systems::entries,
        super::external_systems::claim,
        super::external_systems::settle,
        super::inbound::receive,
        super::inbound_email::receive,
        super::receipts::receive,
        super::agents::list,
        super::agents::create,
        super::agents::show,
        super::agents::replace,
        super::agents::modify,
        super::agents::remove,
        super::agent_sessions::login,
        super::agent_sessions::logout,
        super::me::me,
        super::me::channels,
        super::me::channel,
        super::me::set_channel,
        super::my_interactions::list,
        super::my_interactions::show,
        super::my_interactions::operate,
        super::my_interactions::workbins,
        super::my_interactions::download_attachment,
    ),
    components(
        schemas(ErrorBody, ErrorDetail),
        responses(
            InvalidQuery,
            MalformedBody,
            Unauthorized,
            NotFound,
            Conflict,
            TooLarge,
            RequestTimeout,
            UnsupportedMediaType,
            InvalidField,
            Internal,
            Unavailable,
            InvalidCredentials,
            TooManyAttempts,
        ),
    ),
    tags(
        (name = "meta", description = "Health, metrics and this document; no token needed"),
        (name = "acd-groups", description = "The queues interactions wait in"),
        (name = "connectors", description = "SMS receive connectors and their routing applications"),
        (name = "interactions", description = "What inbound messages became, and the messages themselves"),
        (name = "conversations", description = "The inbox: conversations per contact and connector, their statuses, tags and activity (seed 004)"),
        (name = "queue", description = "The communication queue: outbound email, SMS and device commands"),
        (name = "settings", description = "The host's own email and SMS senders"),
        (name = "external-systems", description = "Gateway and external-system components, and the systems that process queue entries"),
        (name = "gateways", description = "What SMS gateways post: inbound messages and delivery receipts"),
        (name = "agents", description = "Agents (admin), their sessions, and what a logged-in agent does under /me"),
        (name = "third-party", description = "The web API a third-party external system lists, claims and settles its entries with"),
    ),
)]
struct ApiDoc;

/// The document as served: the derived one with the rules of this module's doc applied.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    doc["components"]["securitySchemes"] = security_schemes();
    let routes = route_table();
    for (method, path, access) in &routes {
        let method = method.as_str().to_ascii_lowercase();
        let Some(operation) = doc["paths"]
            .get_mut(path.as_str())
            .and_then(|item| item.get_mut(&method))
        else {
            // Undocumented: the end-to-end test names it.
            continue;
        };
        match access {
            Access::Admin => {
                operation["security"] = json!([{ "admin_token": [] }]);
                add_response(&mut operation["responses"], "401", "Unauthorized");
            }
            Access::Agent => {
                operation["security"] = json!([{ "agent_token": [] }]);
                add_response(&mut operation["responses"], "401", "Unauthorized");
            }
            _ => {}
        }
        if *access != Access::Public {
            add_response(&mut operation["responses"], "500", "Internal");
        }
        // Every body the server reads is read under its body timeout.
        if operation.get("requestBody").is_some() {
            add_response(&mut operation["responses"], "408", "RequestTimeout");
        }
    }
    // The schemas of answers that pass through the times middleware get the twins.
    let mut timed = Vec::new();
    for (method, path, access) in &routes {
        if !matches!(
            access,
            Access::Admin | Access::ThirdParty | Access::Agent | Access::AgentLogin
        ) {
            continue;
        }
        let method = method.as_str().to_ascii_lowercase();
        let Some(operation) = doc["paths"].get(path.as_str()).and_then(|i| i.get(&method)) else {
            continue;
        };
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            if status.starts_with('2') {
                for name in references(response) {
                    reachable(&doc["components"]["schemas"], &name, &mut timed);
                }
            }
        }
    }
    for name in &timed {
        if let Some(schema) = doc["components"]["schemas"].get_mut(name) {
            add_twins(schema);
        }
    }
    doc
}

fn add_response(responses: &mut Value, status: &str, component: &str) {
    if let Some(responses) = responses.as_object_mut() {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{component}") }));
    }
}

fn security_schemes() -> Value {
    let bearer = |description: &str| json!({ "type": "http", "scheme": "bearer", "description": description });
    let query = |description: &str| json!({ "type": "apiKey", "in": "query", "name": "token", "description": description });
    json!({
        "admin_token": bearer(
            "The admin token: `SWITCHYARD_ADMIN_TOKEN`, or the one generated and printed at \
             first start"
        ),
        "connector_token": bearer("The token of the SMS connector of the message's `to` number"),
        "connector_token_query": query("The connector's token as `?token=`, for gateways that cannot set headers"),
        "receipt_token": bearer("The receipt token of the SMS settings (`GET /api/v1/settings/sms`)"),
        "receipt_token_query": query("The receipt token as `?token=`"),
        "system_token": bearer("The external system's own token (`GET /api/v1/external-systems/{name}`)"),
        "agent_token": bearer("An agent's session token, from `POST /api/v1/agent-sessions`"),
        "system_token_query": query("The external system's token as `?token=` (listing only)"),
    })
}

/// The names of the component schemas `value` refers to, directly.
fn references(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(fields) => {
                if let Some(name) = fields
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_owned());
                }
                stack.extend(fields.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// Adds `name` and every schema it refers to, at any depth, to `names`.
fn reachable(schemas: &Value, name: &str, names: &mut Vec<String>) {
    if names.iter().any(|n| n == name) {
        return;
    }
    names.push(name.to_owned());
    if let Some(schema) = schemas.get(name) {
        for inner in references(schema) {
            reachable(schemas, &inner, names);
        }
    }
}

/// Adds `<time>_rfc3339` beside every time property of `schema` and of the object
/// schemas written inside it, as [`super::times::add_rfc3339`] does to the answers:
/// a string, or null where the time is null. It is absent for a time outside years
/// 1970 to 9999, so it is never required.
fn add_twins(schema: &mut Value) {
    let Value::Object(fields) = schema else {
        return;
    };
    if let Some(Value::Object(properties)) = fields.get_mut("properties") {
        let twins: Vec<(String, Value)> = properties
            .iter()
            .filter(|(key, _)| is_time_key(key))
            .filter(|(key, _)| !properties.contains_key(&format!("{key}_rfc3339")))
            .map(|(key, time)| {
                let nullable = time["type"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "null"));
                let mut twin = Map::new();
                twin.insert(
                    "type".into(),
                    if nullable {
                        json!(["string", "null"])
                    } else {
                        json!("string")
                    },
                );
                twin.insert("format".into(), json!("date-time"));
                twin.insert(
                    "description".into(),
                    json!(format!(
                        "`{key}` as RFC 3339 in UTC with milliseconds, added by the server"
                    )),
                );
                (format!("{key}_rfc3339"), Value::Object(twin))
            })
            .collect();
        for (key, value) in properties.iter_mut() {
            if !OPAQUE.contains(&key.as_str()) {
                add_twins(value);
            }
        }
        properties.extend(twins);
    }
    for key in ["items", "allOf", "oneOf", "anyOf", "prefixItems"] {
        match fields.get_mut(key) {
            Some(Value::Array(parts)) => parts.iter_mut().for_each(add_twins),
            Some(part) => add_twins(part),
            None => {}
        }
    }
}

/// The body of every error answer (see [`super::error`]).
#[derive(Serialize, ToSchema)]
pub(super) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ErrorDetail {
    /// A stable machine-readable code, e.g. `not_found`, `invalid_field`.
    code: String,
    /// What went wrong, for a person.
    message: String,
    /// The input at fault, when there is one: a body field (dotted when nested, e.g.
    /// `plugin_limits.fuel`), a path or a query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// Error answers shared by many operations, with what each of their codes means.
macro_rules! error_response {
    ($($name:ident: $description:literal;)*) => {
        $(
            pub(super) struct $name;

            impl<'s> ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<Doc>) {
                    (stringify!($name), error($description))
                }
            }
        )*
    };
}

fn error(description: &str) -> RefOr<Doc> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build()
        .into()
}

error_response! {
    InvalidQuery: "`invalid_query`: an unknown or repeated query parameter, or a value that does not parse (`field` names it)";
    MalformedBody: "`malformed_json`: the body is not JSON; or `bad_request`: it could not be read";
    Unauthorized: "`unauthorized`: the token is missing or wrong (`WWW-Authenticate: Bearer`)";
    NotFound: "`not_found`: no such resource, or a path parameter that does not parse (`field` names it)";
    Conflict: "`conflict`: a duplicate name or number, or the write contradicts what is stored";
    TooLarge: "`body_too_large`: the body is larger than the server accepts";
    RequestTimeout: "`request_timeout`: the body stopped arriving for longer than the server's body timeout, or trickled in too slowly; the connection is closed";
    UnsupportedMediaType: "`unsupported_media_type`: the body is not sent with a content type this operation reads";
    InvalidField: "`invalid_field`: a missing, unknown or wrong-typed field, or one that breaks a rule (`field` names it)";
    Internal: "`internal`: the server failed (its log has the details), e.g. the database is unreachable";
    Unavailable: "`unavailable`: the server is shutting down; retry on another node or later";
    InvalidCredentials: "`invalid_credentials`: the login or the password is wrong (the answer does not say which)";
    TooManyAttempts: "`too_many_attempts`: too many failed logins for this login; `Retry-After` says when to try again";
}
