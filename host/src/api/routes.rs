//! Routers that know their own routes. axum cannot list what a `Router` serves, so every
//! route of the API is added through [`ApiRouter::route`] with methods from this
//! module's [`get`], [`post`], ... (axum's own do not fit there), which note each
//! (method, path) as they add it. [`super::route_table`] lists them, and the OpenAPI
//! document is checked against that list: a route added without documentation fails
//! the end-to-end test `server::openapi`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

use super::AppState;

/// The handlers of one path, by method, and the methods they answer. (axum also
/// answers HEAD wherever there is a GET; the table leaves that implicit.)
pub struct Methods {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

macro_rules! method {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("A `", stringify!($method), "` handler, noted in the route table.")]
            // The whole set, so that a route can start with any method.
            #[allow(dead_code)]
            pub fn $name<H, T>(handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods {
                    router: axum::routing::$name(handler),
                    methods: vec![Method::$method],
                }
            }
        )*

        impl Methods {
            $(
                #[doc = concat!("Adds a `", stringify!($method), "` handler.")]
                pub fn $name<H, T>(mut self, handler: H) -> Self
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Methods {
    /// Accepts bodies up to `max` bytes on these methods instead of the server's
    /// default (component uploads are megabytes).
    pub fn body_limit(mut self, max: usize) -> Self {
        self.router = self.router.layer(DefaultBodyLimit::max(max));
        self
    }
}

/// A router and the (method, path) pairs it serves.
#[derive(Default)]
pub struct ApiRouter {
    router: Router<AppState>,
    routes: Vec<(Method, String)>,
}

impl ApiRouter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, path: &str, methods: Methods) -> Self {
        self.routes
            .extend(methods.methods.into_iter().map(|m| (m, path.to_owned())));
        self.router = self.router.route(path, methods.router);
        self
    }

    pub fn merge(mut self, other: ApiRouter) -> Self {
        self.routes.extend(other.routes);
        self.router = self.router.merge(other.router);
        self
    }

    /// The pairs, paths as given to [`ApiRouter::route`] (`/acd-groups/{id}`).
    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    /// The router to serve, for layers (middleware) and nesting.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
