//! Loading components: each is recognised as its world, or refused with a message that
//! says exactly what does not fit; compiled artifacts are cached by content hash.

use switchyard::runtime::{
    CacheSource, EngineConfig, LoadError, MAX_COMPONENT_SIZE, Runtime, RuntimeConfig, World,
};
use switchyard_tests::{plugin_bytes, repo_root, runtime};

#[test]
fn every_example_plugin_is_recognised_as_its_world() {
    for (name, world) in [
        ("keyword-router", World::RoutingApplication),
        ("keyword-router-py", World::RoutingApplication),
        ("keyword-router-js", World::RoutingApplication),
        ("cas-processor", World::ExternalSystem),
        ("json-gateway", World::Gateway),
        ("hostile", World::RoutingApplication),
    ] {
        let plugin = runtime()
            .load(&plugin_bytes(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plugin.info().world, world, "{name}");
        assert!(
            plugin
                .info()
                .shape
                .imports
                .iter()
                .all(|i| i.starts_with("switchyard:routing/")),
            "{name} imports {:?}",
            plugin.info().shape.imports
        );
    }
}

#[test]
fn a_route_export_with_the_wrong_signature_is_refused_with_both_signatures() {
    let err = runtime()
        .load_as(&plugin_bytes("wrong-world"), World::RoutingApplication)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{text}");
    assert!(text.contains("export `route` has type `func("), "{text}");
    assert!(
        text.contains("expected `func(message: inbound-message"),
        "{text}"
    );
}

#[test]
fn an_external_system_uploaded_as_a_router_is_refused_naming_the_exports() {
    let err = runtime()
        .load_as(&plugin_bytes("cas-processor"), World::RoutingApplication)
        .unwrap_err()
        .to_string();
    assert!(err.contains("world `routing-application`"), "{err}");
    assert!(err.contains("missing export `route"), "{err}");
    assert!(err.contains("unexpected export `process`"), "{err}");
}

#[test]
fn a_router_asked_for_as_an_external_system_is_refused_even_when_cached() {
    let bytes = plugin_bytes("keyword-router");
    runtime().load(&bytes).expect("loads as a router");
    let err = runtime()
        .load_as(&bytes, World::ExternalSystem)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing export `process"), "{err}");
}

#[test]
fn a_wasi_import_is_refused_naming_the_import() {
    let err = runtime()
        .load(&plugin_bytes("forbidden-import"))
        .unwrap_err();
    match &err {
        LoadError::ForbiddenImport { name, hint } => {
            assert_eq!(name, "wasi:cli/environment@0.2.0");
            assert!(hint.contains("no WASI"), "{hint}");
        }
        other => panic!("expected a forbidden import, got {other}"),
    }
}

#[test]
fn a_wasi_import_or_a_missing_export_is_refused_before_compiling() {
    // Compiling writes the artifact to the cache directory, so an empty directory
    // afterwards shows that Cranelift never saw these components.
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        engine: EngineConfig {
            pooling: false,
            ..EngineConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasi = runtime.load(&plugin_bytes("forbidden-import")).unwrap_err();
    assert!(matches!(wasi, LoadError::ForbiddenImport { .. }), "{wasi}");
    let world = runtime
        .load_as(&plugin_bytes("cas-processor"), World::RoutingApplication)
        .unwrap_err();
    assert!(matches!(world, LoadError::WrongWorld { .. }), "{world}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A component that fits is compiled and cached as before.
    runtime.load(&plugin_bytes("keyword-router")).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_component_over_the_size_limit_is_refused_before_compiling() {
    let mut bytes = plugin_bytes("keyword-router");
    bytes.resize(MAX_COMPONENT_SIZE + 1, 0);
    let err = runtime().load(&bytes).unwrap_err();
    assert!(
        matches!(err, LoadError::TooLarge { max, .. } if max == MAX_COMPONENT_SIZE),
        "{err}"
    );
}

#[test]
fn a_core_module_is_refused_with_a_hint_to_componentize_it() {
    let core =
        repo_root().join("plugins/target/wasm32-unknown-unknown/release/keyword_router.wasm");
    let bytes = std::fs::read(&core).expect("plugins/build.sh leaves the core module");
    let err = runtime().load(&bytes).unwrap_err();
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("wasm-tools component new"));
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    assert!(matches!(
        runtime().load(b"MZ\x90\x00 definitely not wasm"),
        Err(LoadError::NotWasm)
    ));
    assert!(matches!(runtime().load(b""), Err(LoadError::NotWasm)));
}

#[test]
fn a_truncated_component_is_refused_as_not_compiling() {
    let bytes = plugin_bytes("keyword-router");
    let err = runtime().load(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
}

/// The one artifact of `hash` under the cache directory (in its engine's folder).
fn artifact_of(dir: &std::path::Path, hash: &str) -> std::path::PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|engine| engine.unwrap().path().join(format!("{hash}.cwasm")))
        .filter(|path| path.exists())
        .collect();
    assert_eq!(found.len(), 1, "artifacts of {hash}: {found:?}");
    found[0].clone()
}

#[test]
fn loaded_plugins_are_bounded_by_their_compiled_size_least_recently_used_first() {
    // A budget of one byte holds only the newest plugin.
    let runtime = Runtime::new(RuntimeConfig {
        plugin_cache_bytes: 1,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let router = runtime.load(&plugin_bytes("keyword-router")).unwrap();
    assert!(runtime.loaded(&router.info().hash).is_some());
    let gateway = runtime.load(&plugin_bytes("json-gateway")).unwrap();
    assert!(runtime.loaded(&router.info().hash).is_none());
    assert!(runtime.loaded(&gateway.info().hash).is_some());
    let (count, bytes) = runtime.plugin_cache_usage();
    assert_eq!(count, 1);
    assert!(bytes > 0);
}

#[test]
fn a_component_that_fails_its_world_check_is_not_kept() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let bytes = plugin_bytes("wrong-world");
    runtime
        .load_as(&bytes, World::RoutingApplication)
        .unwrap_err();
    assert_eq!(runtime.plugin_cache_usage(), (0, 0));
}

#[test]
fn compiled_components_are_reused_from_memory_and_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let bytes = plugin_bytes("keyword-router");

    let first = Runtime::new(config()).unwrap();
    let compiled = first.load(&bytes).unwrap();
    assert_eq!(compiled.info().source, CacheSource::Compiled);
    let again = first.load(&bytes).unwrap();
    assert!(std::sync::Arc::ptr_eq(&compiled, &again));
    let artifact = artifact_of(dir.path(), &compiled.info().hash);

    let second = Runtime::new(config()).unwrap();
    assert_eq!(
        second.load(&bytes).unwrap().info().source,
        CacheSource::Disk
    );

    // An engine with other settings (fuel metering) keeps its artifacts apart and
    // leaves these alone.
    let metered = Runtime::new(RuntimeConfig {
        engine: EngineConfig {
            fuel_metering: true,
            ..EngineConfig::default()
        },
        ..config()
    })
    .unwrap();
    assert_eq!(
        metered.load(&bytes).unwrap().info().source,
        CacheSource::Compiled
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    assert_eq!(
        Runtime::new(config())
            .unwrap()
            .load(&bytes)
            .unwrap()
            .info()
            .source,
        CacheSource::Disk
    );

    // A damaged artifact is not trusted: the component is compiled again.
    std::fs::write(&artifact, b"garbage").unwrap();
    let third = Runtime::new(config()).unwrap();
    assert_eq!(
        third.load(&bytes).unwrap().info().source,
        CacheSource::Compiled
    );
}
