//! Helpers shared by the end-to-end tests: the plugins built from source by
//! `plugins/build.sh`, the `switchyard` binary, runtimes to load them into, and
//! [`spawn_app`], a real server on a random port with a fresh database.

pub mod cometd;
pub mod gateway;
pub mod metrics;
pub mod smtp;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchyard::runtime::{Plugin, Runtime, RuntimeConfig, World};

/// Calls `check` every 20 ms until it yields a value, for at most `within`, and
/// returns that value; panics naming `what` if it never comes. Tests wait this way for
/// something they can observe (an API's answer, a row, a request at a gateway) rather
/// than sleeping for a time that is too long on a fast machine and too short on a
/// loaded one.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < within,
            "gave up after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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

/// Runs one plugin call (or any future) to completion on a thread of its own: plugin
/// calls are async, and most runtime tests are plain functions.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread executor starts")
        .block_on(future)
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

/// The runtime every test server shares, configured as the server's default. One per
/// test binary rather than one per server: a runtime reserves its instance pool up
/// front, and the compiled Python and JavaScript routers are then compiled only once.
pub fn shared_server_runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime starts")))
        .clone()
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
            build.args([
                "build",
                "--quiet",
                "-p",
                "switchyard",
                "--bin",
                "switchyard",
            ]);
            if release {
                build.arg("--release");
            }
            let status = build.current_dir(repo_root()).status().expect("cargo runs");
            assert!(status.success(), "cargo build -p switchyard failed");
            assert!(bin.exists(), "{} was not built", bin.display());
            bin
        })
        .clone()
}

/// Which database the server tests run on: SQLite unless `SWITCHYARD_TEST_DATABASE` is
/// `postgres`, so `tests/run.sh` runs the same suite on both backends.
pub fn test_backend_is_postgres() -> bool {
    match std::env::var("SWITCHYARD_TEST_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("SWITCHYARD_TEST_DATABASE={other}: expected sqlite or postgres"),
    }
}

/// The PostgreSQL server the tests create their databases on (trust auth, as on CI).
pub fn postgres_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or
/// a new PostgreSQL database `sy_test_<random>` that is dropped when this is dropped.
pub struct TestDatabase {
    pub url: String,
    /// Keeps the SQLite file's directory alive; holds nothing for PostgreSQL.
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// On the backend [`test_backend_is_postgres`] chooses.
    pub async fn new() -> Self {
        if test_backend_is_postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    /// A fresh SQLite file in a temporary directory, whatever the environment says
    /// (the ingest benchmark measures both backends in one run).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("switchyard.db").display());
        Self {
            url,
            _dir: Some(dir),
            postgres_name: None,
        }
    }

    /// A fresh PostgreSQL database on [`postgres_admin_url`]'s server.
    pub async fn postgres() -> Self {
        let name = format!("sy_test_{}", hex_id());
        postgres_admin(&format!("CREATE DATABASE {name}")).await;
        let admin = postgres_admin_url();
        let base = admin.rsplit_once('/').expect("a URL with a database").0;
        Self {
            url: format!("{base}/{name}"),
            _dir: None,
            postgres_name: Some(name),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            // Drop runs inside the test's runtime, which cannot block on itself; a
            // thread with its own small runtime can.
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(postgres_admin(&sql))
            })
            .join();
        }
    }
}

fn hex_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn postgres_admin(sql: &str) {
    use sqlx::Connection;
    let url = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
}

/// The admin token the test servers are configured with.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A server running in this test's runtime, and a client for it.
pub struct TestApp {
    pub address: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the real server on a random port with a fresh database and the admin token
/// [`TEST_ADMIN_TOKEN`].
pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token = Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).unwrap());
    spawn_app_with(config, db).await
}

/// The server's defaults, on `db`, on a random loopback port, with no admin token.
pub fn test_config(db: &TestDatabase) -> switchyard::config::Config {
    switchyard::config::Config::new("127.0.0.1:0".parse().unwrap(), db.url.clone())
}

/// Starts the real server with `config` (which should point at `db`).
pub async fn spawn_app_with(config: switchyard::config::Config, db: TestDatabase) -> TestApp {
    let app = switchyard::startup::Application::build_with_runtime(config, shared_server_runtime())
        .await
        .expect("the server starts");
    let address = format!("http://{}", app.local_addr());
    let admin_token = app.admin_token().as_str().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        admin_token,
        client: reqwest::Client::new(),
        db,
        stop,
        served,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to the admin API with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
    }

    /// Runs `sql` on the server's database behind its back, as an admin editing the
    /// database by hand would: how tests plant rows the API refuses to write. Returns
    /// the number of rows changed.
    pub async fn edit_database(&self, sql: &str) -> u64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.db.url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.db.url));
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        pool.close().await;
        done.rows_affected()
    }

    /// Stops the server gracefully and hands back its database, so a test can start
    /// another server on the same one.
    pub async fn stop(self) -> TestDatabase {
        let TestApp {
            db, stop, served, ..
        } = self;
        let _ = stop.send(());
        served
            .await
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
        db
    }
}
