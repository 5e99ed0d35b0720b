//! The three plugin worlds, and reading a component's imports and exports to tell which
//! world it targets and why it does not fit one.

use std::fmt::Write;

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::{Component, types};

use super::LoadError;

/// The kind of plugin a component is, named after its WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    RoutingApplication,
    ExternalSystem,
    Gateway,
}

/// The host interfaces a plugin may import, all from `switchyard:routing@0.1`.
pub const PROVIDED_INTERFACES: [&str; 6] = ["types", "log", "kv", "config", "clock", "acd"];
const PACKAGE: &str = "switchyard:routing";
/// Imports of this package must be semver-compatible with what the host implements.
const COMPATIBLE_VERSION: &str = "0.1.";

impl World {
    pub const ALL: [World; 3] = [
        World::RoutingApplication,
        World::ExternalSystem,
        World::Gateway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            World::RoutingApplication => "routing-application",
            World::ExternalSystem => "external-system",
            World::Gateway => "gateway",
        }
    }

    /// The functions the world exports, with their WIT signatures.
    pub fn exports(self) -> &'static [(&'static str, &'static str)] {
        match self {
            World::RoutingApplication => &[(
                "route",
                "func(message: inbound-message, connector: connector-context, \
                 conversation: conversation) -> decision",
            )],
            World::ExternalSystem => &[("process", "func(entry: queue-entry) -> process-outcome")],
            World::Gateway => &[
                (
                    "build-request",
                    "func(entry: queue-entry) -> result<http-request, process-error>",
                ),
                (
                    "parse-response",
                    "func(entry: queue-entry, response: http-response) -> send-result",
                ),
            ],
        }
    }

    pub fn parse(name: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.name() == name)
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A component's imports and exports, rendered for people.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Shape {
    /// Import names, e.g. `switchyard:routing/log@0.1.0`.
    pub imports: Vec<String>,
    /// Export names with a WIT-like rendering of their types.
    pub exports: Vec<(String, String)>,
}

impl Shape {
    pub(crate) fn of(engine: &Engine, component: &Component) -> Shape {
        let ty = component.component_type();
        let imports = ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let exports = ty
            .exports(engine)
            .map(|(name, item)| (name.to_owned(), render_item(&item.ty)))
            .collect();
        Shape { imports, exports }
    }

    fn export_names(&self) -> impl Iterator<Item = &str> {
        self.exports.iter().map(|(name, _)| name.as_str())
    }

    /// The world whose exports this component has: exact match first, then the world
    /// sharing the most export names (so a half-built gateway is called a gateway).
    pub(crate) fn likely_world(&self) -> Option<World> {
        let score = |w: World| {
            w.exports()
                .iter()
                .filter(|(name, _)| self.export_names().any(|e| e == *name))
                .count()
        };
        World::ALL
            .into_iter()
            .filter(|w| score(*w) > 0)
            .max_by_key(|w| (score(*w), std::cmp::Reverse(w.exports().len())))
    }

    /// Refuses imports the host does not provide, naming the first one.
    pub(crate) fn check_imports(&self) -> Result<(), LoadError> {
        for name in &self.imports {
            if let Some(hint) = import_problem(name) {
                return Err(LoadError::ForbiddenImport {
                    name: name.clone(),
                    hint,
                });
            }
        }
        Ok(())
    }

    /// The world this component is a plugin of: `expected` if given, else the one its
    /// exports suggest; refused if it lacks an export of that world.
    pub(crate) fn world(&self, expected: Option<World>) -> Result<World, LoadError> {
        let Some(world) = expected.or_else(|| self.likely_world()) else {
            let names: Vec<String> = self.export_names().map(|n| format!("`{n}`")).collect();
            return Err(LoadError::UnknownWorld {
                exports: if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                },
            });
        };
        let problems = self.export_problems(world);
        if !problems.is_empty() {
            return Err(LoadError::WrongWorld {
                expected: world,
                problems,
            });
        }
        Ok(world)
    }

    /// What is missing compared with `world`'s exports, or empty if nothing is (types
    /// are checked when linking). Extra exports are harmless (componentize-py adds an
    /// `init` interface of its own) and only named to explain a missing one.
    pub(crate) fn export_problems(&self, world: World) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, signature) in world.exports() {
            if !self.export_names().any(|e| e == *name) {
                problems.push(format!("missing export `{name}: {signature}`"));
            }
        }
        if !problems.is_empty() {
            for (name, _) in &self.exports {
                if !world.exports().iter().any(|(w, _)| w == name) {
                    problems.push(format!("unexpected export `{name}`"));
                }
            }
        }
        problems
    }

    /// The rendered type of export `name`.
    pub(crate) fn export_type(&self, name: &str) -> Option<&str> {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }
}

fn import_problem(name: &str) -> Option<String> {
    let provided = || {
        format!(
            "the host provides only {PACKAGE}/{{{}}}@0.1",
            PROVIDED_INTERFACES.join(",")
        )
    };
    if name.starts_with("wasi:") {
        return Some(format!(
            "plugins get no WASI (filesystem, environment, sockets, clocks, random); build \
             Python plugins with `componentize-py ... --stub-wasi` and JavaScript plugins \
             with componentize-js `disableFeatures: ['stdio','random','clocks','http','fetch-event']`; {}",
            provided()
        ));
    }
    let Some(rest) = name.strip_prefix(&format!("{PACKAGE}/")) else {
        return Some(provided());
    };
    let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
    if !PROVIDED_INTERFACES.contains(&interface) {
        return Some(format!(
            "there is no interface `{interface}`; {}",
            provided()
        ));
    }
    if !version.starts_with(COMPATIBLE_VERSION) {
        return Some(format!(
            "version `{version}` is not compatible with this host; {}",
            provided()
        ));
    }
    None
}

fn render_item(item: &types::ComponentItem) -> String {
    match item {
        types::ComponentItem::ComponentFunc(func) => render_func(func),
        types::ComponentItem::CoreFunc(_) => "core func".into(),
        types::ComponentItem::Module(_) => "core module".into(),
        types::ComponentItem::Component(_) => "component".into(),
        types::ComponentItem::ComponentInstance(_) => "instance".into(),
        types::ComponentItem::Type(ty) => render_type(ty, 0),
        types::ComponentItem::Resource(_) => "resource".into(),
    }
}

fn render_func(func: &types::ComponentFunc) -> String {
    let mut out = String::from("func(");
    for (i, (name, ty)) in func.params().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{name}: {}", render_type(&ty, 0));
    }
    out.push(')');
    let results: Vec<String> = func.results().map(|t| render_type(&t, 0)).collect();
    if !results.is_empty() {
        let _ = write!(out, " -> {}", results.join(", "));
    }
    out
}

/// A WIT-like rendering of `ty`: nested records show their field names only, which is
/// enough to see which shape a component expected without a page of output.
fn render_type(ty: &types::Type, depth: usize) -> String {
    use types::Type as T;
    let inner = |t: &types::Type| render_type(t, depth + 1);
    match ty {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(list) => format!("list<{}>", inner(&list.ty())),
        T::Option(opt) => format!("option<{}>", inner(&opt.ty())),
        T::Result(res) => {
            let ok = res.ok().map_or("_".into(), |t| inner(&t));
            let err = res.err().map_or("_".into(), |t| inner(&t));
            format!("result<{ok}, {err}>")
        }
        T::Tuple(tuple) => {
            let parts: Vec<String> = tuple.types().map(|t| inner(&t)).collect();
            format!("tuple<{}>", parts.join(", "))
        }
        T::Record(record) if depth == 0 => {
            let fields: Vec<String> = record
                .fields()
                .map(|f| format!("{}: {}", f.name, inner(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        T::Record(record) => {
            let fields: Vec<&str> = record.fields().map(|f| f.name).collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        T::Variant(variant) => {
            let cases: Vec<&str> = variant.cases().map(|c| c.name).collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        T::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        T::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switchyard_imports_of_this_version_are_allowed() {
        assert_eq!(import_problem("switchyard:routing/log@0.1.0"), None);
        assert_eq!(import_problem("switchyard:routing/kv@0.1.7"), None);
    }

    #[test]
    fn wasi_imports_are_refused_with_a_build_hint() {
        let hint = import_problem("wasi:cli/environment@0.2.0").unwrap();
        assert!(hint.contains("--stub-wasi"), "{hint}");
    }

    #[test]
    fn unknown_interfaces_and_versions_are_refused() {
        assert!(
            import_problem("switchyard:routing/sockets@0.1.0")
                .unwrap()
                .contains("no interface `sockets`")
        );
        assert!(
            import_problem("switchyard:routing/log@0.2.0")
                .unwrap()
                .contains("not compatible")
        );
        assert!(import_problem("acme:thing/x").is_some());
    }

    #[test]
    fn worlds_round_trip_by_name() {
        for world in World::ALL {
            assert_eq!(World::parse(world.name()), Some(world));
        }
    }
}
