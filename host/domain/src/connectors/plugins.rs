//! Plugin versions of a connector: each upload of a routing application is a numbered
//! version; one of them at a time is active, and activations are kept as a history so
//! that rollback can step back more than once.

use serde::Serialize;

use super::RoutingType;

/// One uploaded version, as listed by the API (never with its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginVersion {
    /// 1, 2, 3, ... per connector, in upload order.
    pub version: i64,
    /// SHA-256 of the component bytes, hex-encoded.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: i64,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
    pub active: bool,
}

/// The version a connector routes with now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActivePlugin {
    pub version: i64,
    pub sha256: String,
    pub size: i64,
    pub uploaded_at: i64,
    /// When this version became active (milliseconds since the Unix epoch).
    pub activated_at: i64,
}

/// Why a connector of `routing_type` takes no routing application, if it does not. A
/// direct connector never runs one, so an upload or activation would be stored and
/// silently never used; it is refused instead, naming the way out.
pub fn refuses_routing_applications(routing_type: RoutingType) -> Option<&'static str> {
    match routing_type {
        RoutingType::RoutingApplication => None,
        RoutingType::DirectAcdGroup => Some(
            "its routing type is direct_acd_group, which never runs a routing application; \
             change the connector's routing_type to routing_application first",
        ),
    }
}

/// Whether an upload activates the version it stores. `requested` is the caller's
/// `?activate=`; without it, only a connector with no active version activates its
/// upload. A first upload has nothing to disturb, so making it live saves a step;
/// later uploads replace a version that is routing real traffic, which should be a
/// deliberate second step (`POST .../plugins/{version}/activate`).
pub fn activates_on_upload(requested: Option<bool>, has_active_version: bool) -> bool {
    requested.unwrap_or(!has_active_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routing_application_connectors_take_routing_applications() {
        assert!(refuses_routing_applications(RoutingType::RoutingApplication).is_none());
        assert!(
            refuses_routing_applications(RoutingType::DirectAcdGroup)
                .unwrap()
                .contains("direct_acd_group")
        );
    }

    #[test]
    fn only_the_first_upload_activates_unless_asked() {
        assert!(activates_on_upload(None, false));
        assert!(!activates_on_upload(None, true));
        assert!(activates_on_upload(Some(true), true));
        assert!(!activates_on_upload(Some(false), false));
    }
}
