//! A component that claims to route but does not implement `routing-application`: its
//! `route` takes and returns a string. The host must refuse it at load time instead of
//! failing on the first message.

wit_bindgen::generate!({
    world: "wrong",
    path: "wit",
});

struct WrongWorld;

impl Guest for WrongWorld {
    fn route(body: String) -> String {
        format!("routed: {body}")
    }
}

export!(WrongWorld);
