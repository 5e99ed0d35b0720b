//! Helpers shared by the end-to-end tests: the plugins built from source by
//! `plugins/build.sh`, the `switchyard` binary, and runtimes to load them into.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use switchyard::runtime::{Plugin, Runtime, RuntimeConfig, World};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
        .to_path_buf()
}

/// Path of a plugin component built by `plugins/build.sh`.
pub fn plugin_path(name: &str) -> PathBuf {
    repo_root()
        .join("plugins/dist")
        .join(format!("{name}.wasm"))
}

/// The bytes of a built plugin. A missing plugin fails the test: the plugins are part
/// of what is tested, so they must be built (`plugins/build.sh`), never skipped.
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    let path = plugin_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); build the plugins first with `plugins/build.sh`",
            path.display()
        )
    })
}

/// One runtime per test binary, with the pooling allocator as in production and fuel
/// metering on, so fuel limits can be tested.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut config = RuntimeConfig::default();
        config.engine.fuel_metering = true;
        Runtime::new(config).expect("runtime starts")
    })
}

/// A runtime configured as the server's default: no fuel metering, epoch deadlines only.
pub fn server_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime starts"))
}

/// Loads a built plugin as `world` into the shared runtime.
pub fn load(name: &str, world: World) -> Arc<Plugin> {
    runtime()
        .load_as(&plugin_bytes(name), world)
        .unwrap_or_else(|e| panic!("{name} does not load: {e}"))
}

/// The `switchyard` binary, next to this test binary in cargo's target directory.
///
/// Cargo builds a package's binaries only for that package's own integration tests, so
/// a clean `cargo test --workspace` has not built it when these tests start: build it
/// once, with the cargo that runs the tests (it holds no lock while tests run).
pub fn switchyard_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>/deps");
            let bin = dir.join(format!("switchyard{}", std::env::consts::EXE_SUFFIX));
            let release = dir.file_name().is_some_and(|p| p == "release");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "--quiet", "-p", "switchyard", "--bin", "switchyard"]);
            if release {
                build.arg("--release");
            }
            let status = build
                .current_dir(repo_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p switchyard failed");
            assert!(bin.exists(), "{} was not built", bin.display());
            bin
        })
        .clone()
}
