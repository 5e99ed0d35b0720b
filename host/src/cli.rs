//! The command line: `switchyard serve`, `switchyard plugin check` and
//! `switchyard plugin run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::config::RawSettings;
use crate::domain::conversations::Conversation;
use crate::domain::queue::{HttpMethod, HttpRequestSpec, HttpResponseData, QueueEntry};
use crate::domain::routing::{ConnectorContext, InboundMessage};
use crate::runtime::host::{MemoryKv, StaffingTable};
use crate::runtime::{HostEnv, Limits, Plugin, Runtime, RuntimeConfig, Settings, World};
use crate::sandbox;
use crate::startup::Application;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A WebAssembly plugin host for contact-centre routing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the admin API and the gateways' endpoints.
    Serve(ServeArgs),
    /// Work with plugin components locally, before uploading them.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// Flags of `switchyard serve`; they override the environment, which overrides the
/// configuration file.
#[derive(Args)]
struct ServeArgs {
    /// A TOML configuration file (keys: listen, database_url, admin_token, cache_dir,
    /// max_body_bytes, queue_worker, [plugins] fuel, deadline_ms, memory_mib).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env: SWITCHYARD_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// sqlite://FILE or postgres://... [env: SWITCHYARD_DATABASE_URL]
    /// [default: sqlite://switchyard.db].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Bearer token for /api/v1 [env: SWITCHYARD_ADMIN_TOKEN]; without one, a token is
    /// generated at the first start, stored in the database and printed once.
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Check a component: which world it targets, its imports and exports, size and
    /// compile time; or exactly why it does not fit.
    Check {
        file: PathBuf,
        /// Require this world (routing-application, external-system, gateway).
        #[arg(long, value_parser = parse_world)]
        world: Option<World>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a plugin once in the sandbox and print its result as JSON.
    Run(Box<RunArgs>),
}

#[derive(Args)]
struct RunArgs {
    file: PathBuf,
    /// Inbound message (routing applications), e.g.
    /// {"channel":"sms","sender":"+4915112345678","recipient":"+4930123456","body":"billing"}
    #[arg(long, value_name = "MSG.json")]
    message: Option<PathBuf>,
    /// Queue entry (external systems and gateways).
    #[arg(long, value_name = "ENTRY.json")]
    entry: Option<PathBuf>,
    /// Gateway only: the HTTP response to interpret instead of building a request, as
    /// `{"status": 400, "headers": [["Content-Type", "application/json"]], "body":
    /// "..."}`; the body is text, or hex with `"body_encoding": "hex"`.
    #[arg(long, value_name = "RESPONSE.json", requires = "entry")]
    response: Option<PathBuf>,
    /// The plugin's settings, a JSON object.
    #[arg(long, value_name = "S.json")]
    settings: Option<PathBuf>,
    /// The conversation before the message: {"status":"closed","tags":[]}.
    #[arg(long, value_name = "CONV.json")]
    conversation: Option<PathBuf>,
    /// Initial kv contents: {"key":"value"}.
    #[arg(long, value_name = "KV.json")]
    kv: Option<PathBuf>,
    /// ACD staffing: {"billing":{"ready_agents":2,"queue_depth":0}}.
    #[arg(long, value_name = "STAFFING.json")]
    staffing: Option<PathBuf>,
    /// Fuel limit (default 500000000).
    #[arg(long)]
    fuel: Option<u64>,
    /// Deadline in milliseconds (default 1000).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Memory limit in MiB (default 128).
    #[arg(long)]
    memory_mib: Option<usize>,
}

fn parse_world(name: &str) -> Result<World, String> {
    World::parse(name).ok_or_else(|| {
        format!("unknown world `{name}`; expected routing-application, external-system or gateway")
    })
}

/// Runs the command line; errors are printed and become a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its requests; the plugin commands print results and only warn.
    let log_filter = match cli.command {
        Command::Serve(_) => "info",
        Command::Plugin(_) => "warn",
    };
    if let Err(e) = crate::telemetry::init(log_filter) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Plugin(PluginCommand::Check { file, world, json }) => check(&file, world, json),
        Command::Plugin(PluginCommand::Run(args)) => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Gathers the configuration (defaults < file < environment < flags) and serves until
/// SIGINT or SIGTERM. The tokio runtime exists only for this command.
fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => RawSettings::from_file(path)?,
        None => RawSettings::default(),
    };
    let flags = RawSettings {
        listen: args.listen,
        database_url: args.database_url,
        admin_token: args.admin_token,
        ..RawSettings::default()
    };
    let config = file
        .overridden_by(RawSettings::from_env(|name| std::env::var(name).ok()))
        .overridden_by(flags)
        .validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = Application::build(config).await?;
        // Scripts and tests wait for this line to learn the port (`--listen
        // 127.0.0.1:0` picks a free one).
        eprintln!("switchyard: listening on http://{}", app.local_addr());
        app.run_until_stopped().await?;
        eprintln!("switchyard: stopped");
        Ok(())
    })
}

fn runtime() -> anyhow::Result<Runtime> {
    // The CLI loads one component once: pooling would only reserve memory for nothing.
    // It meters fuel so that `plugin run` can say what a decision costs.
    let mut config = RuntimeConfig::default();
    config.engine.pooling = false;
    config.engine.fuel_metering = true;
    config.cache_dir = cache_dir();
    Runtime::new(config)
}

/// Compiling a Python or JavaScript component takes seconds; cache the result per user
/// (`SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard`, else
/// `~/.cache/switchyard`) so repeated `plugin run`s start at once.
fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("SWITCHYARD_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("switchyard")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/switchyard")))
}

fn read_component(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn check(file: &Path, world: Option<World>, json: bool) -> anyhow::Result<()> {
    let bytes = read_component(file)?;
    let runtime = runtime()?;
    let started = Instant::now();
    let loaded = match world {
        Some(world) => runtime.load_as(&bytes, world),
        None => runtime.load(&bytes),
    };
    let plugin = loaded.with_context(|| format!("{} is not a usable plugin", file.display()))?;
    let total = started.elapsed();
    let info = plugin.info();
    if json {
        println!("{}", serde_json::to_string_pretty(info)?);
        return Ok(());
    }
    println!("{}: ok", file.display());
    println!("world:        {}", info.world);
    println!("size:         {} bytes", info.size);
    println!("sha256:       {}", info.hash);
    println!(
        "compile time: {:.1} ms ({:.1} ms with checks)",
        info.load_time.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3
    );
    println!("imports:");
    for name in &info.shape.imports {
        println!("  {name}");
    }
    println!("exports:");
    for (name, ty) in &info.shape.exports {
        println!("  {name}: {ty}");
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid {what}", path.display()))
}

/// What `plugin run` prints.
#[derive(Serialize)]
struct RunOutput<T: Serialize> {
    world: World,
    result: T,
    fuel_used: Option<u64>,
    wall_time_us: u64,
    logs: Vec<crate::runtime::host::LogLine>,
    kv_changes: crate::runtime::host::KvChanges,
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let bytes = read_component(&args.file)?;
    let runtime = runtime()?;
    let plugin = runtime
        .load(&bytes)
        .with_context(|| format!("{} is not a usable plugin", args.file.display()))?;

    let settings = match &args.settings {
        Some(path) => {
            let value: serde_json::Value = read_json(path, "settings")?;
            Settings::from_value(value).with_context(|| format!("in {}", path.display()))?
        }
        None => Settings::empty(),
    };
    let mut env = HostEnv::new(settings);
    if let Some(path) = &args.kv {
        env.kv = std::sync::Arc::new(MemoryKv::with_entries(
            &env.kv_scope,
            read_json(path, "kv")?,
        ));
    }
    if let Some(path) = &args.staffing {
        env.staffing = std::sync::Arc::new(read_json::<StaffingTable>(path, "staffing")?);
    }
    let defaults = Limits::default();
    let limits = Limits {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        deadline: args
            .deadline_ms
            .map_or(defaults.deadline, std::time::Duration::from_millis),
        memory: args.memory_mib.map_or(defaults.memory, |m| m << 20),
        ..defaults
    };
    // Plugin calls are async (kv and staffing are async host calls); one thread
    // drives this single call.
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    executor.block_on(invoke(args, &plugin, &env, &limits))
}

/// Calls the plugin the way its world is called, and prints what it returned.
async fn invoke(
    args: &RunArgs,
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
) -> anyhow::Result<()> {
    let world = plugin.info().world;
    match world {
        World::RoutingApplication => {
            let Some(path) = &args.message else {
                bail!(
                    "{} is a routing application: pass --message MSG.json",
                    args.file.display()
                );
            };
            let mut message: InboundMessage = read_json(path, "message")?;
            if message.received_at == 0 {
                message.received_at = crate::runtime::host::now_ms();
            }
            let conversation: Conversation = match &args.conversation {
                Some(path) => read_json(path, "conversation")?,
                None => Conversation::default(),
            };
            let connector = ConnectorContext {
                id: "cli".into(),
                name: "cli".into(),
                recipient: message.recipient.clone(),
            };
            let invocation =
                sandbox::route(plugin, env, limits, &message, &connector, &conversation).await?;
            print(output(world, invocation))
        }
        World::ExternalSystem => {
            let entry: QueueEntry = read_entry(args)?;
            let invocation = sandbox::process(plugin, env, limits, &entry).await?;
            print(output(world, invocation))
        }
        World::Gateway => {
            let entry: QueueEntry = read_entry(args)?;
            match &args.response {
                Some(path) => {
                    let response = read_json::<ResponseFile>(path, "response")?
                        .into_response()
                        .with_context(|| format!("in {}", path.display()))?;
                    let invocation =
                        sandbox::parse_response(plugin, env, limits, &entry, &response).await?;
                    print(output(world, invocation))
                }
                None => {
                    let invocation = sandbox::build_request(plugin, env, limits, &entry).await?;
                    print(output(world, invocation).map(|r| r.map(ShownRequest::from)))
                }
            }
        }
    }
}

fn read_entry(args: &RunArgs) -> anyhow::Result<QueueEntry> {
    match &args.entry {
        Some(path) => read_json(path, "queue entry"),
        None => bail!(
            "{} takes a queue entry: pass --entry ENTRY.json",
            args.file.display()
        ),
    }
}

fn output<T: Serialize>(world: World, invocation: crate::runtime::Invocation<T>) -> RunOutput<T> {
    RunOutput {
        world,
        result: invocation.value,
        fuel_used: invocation.fuel_used,
        wall_time_us: invocation.elapsed.as_micros() as u64,
        logs: invocation.logs,
        kv_changes: invocation.kv_changes,
    }
}

impl<T: Serialize> RunOutput<T> {
    fn map<U: Serialize>(self, f: impl FnOnce(T) -> U) -> RunOutput<U> {
        RunOutput {
            world: self.world,
            result: f(self.result),
            fuel_used: self.fuel_used,
            wall_time_us: self.wall_time_us,
            logs: self.logs,
            kv_changes: self.kv_changes,
        }
    }
}

/// How a body is written in `plugin run`'s JSON: as text when it is UTF-8 (gateway
/// requests are JSON or forms, which a reader wants to read), as hex otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BodyEncoding {
    #[default]
    Text,
    Hex,
}

/// A request a gateway plugin built, as `plugin run` prints it.
#[derive(Serialize)]
struct ShownRequest {
    method: HttpMethod,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    body_encoding: BodyEncoding,
}

impl From<HttpRequestSpec> for ShownRequest {
    fn from(request: HttpRequestSpec) -> Self {
        let (body, body_encoding) = match String::from_utf8(request.body) {
            Ok(text) => (text, BodyEncoding::Text),
            Err(bytes) => (hex::encode(bytes.as_bytes()), BodyEncoding::Hex),
        };
        Self {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body,
            body_encoding,
        }
    }
}

/// A `--response` file: the gateway's answer with its body as text (or hex).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    body_encoding: BodyEncoding,
}

impl ResponseFile {
    fn into_response(self) -> anyhow::Result<HttpResponseData> {
        let body = match self.body_encoding {
            BodyEncoding::Text => self.body.into_bytes(),
            BodyEncoding::Hex => hex::decode(self.body.trim())
                .context("`body` is not hex, as `\"body_encoding\": \"hex\"` says")?,
        };
        Ok(HttpResponseData {
            status: self.status,
            headers: self.headers,
            body,
        })
    }
}

fn print<T: Serialize>(output: RunOutput<T>) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_shown_as_text_or_hex() {
        let request = |body: &[u8]| HttpRequestSpec {
            method: HttpMethod::Post,
            url: "https://sms.example".into(),
            headers: vec![],
            body: body.to_vec(),
        };
        let shown = ShownRequest::from(request(br#"{"to":"+1"}"#));
        assert_eq!(
            (shown.body.as_str(), shown.body_encoding),
            (r#"{"to":"+1"}"#, BodyEncoding::Text)
        );
        let shown = ShownRequest::from(request(&[0xff, 0x00, 0x41]));
        assert_eq!(
            (shown.body.as_str(), shown.body_encoding),
            ("ff0041", BodyEncoding::Hex)
        );
    }

    #[test]
    fn response_files_take_text_or_hex_bodies() {
        let file: ResponseFile =
            serde_json::from_str(r#"{"status":400,"body":"{\"code\":\"E42\"}"}"#).unwrap();
        let response = file.into_response().unwrap();
        assert_eq!(response.body, br#"{"code":"E42"}"#);
        assert!(response.headers.is_empty());
        let file: ResponseFile =
            serde_json::from_str(r#"{"status":200,"body":"ff41","body_encoding":"hex"}"#).unwrap();
        assert_eq!(file.into_response().unwrap().body, [0xff, 0x41]);
        let file: ResponseFile =
            serde_json::from_str(r#"{"status":200,"body":"zz","body_encoding":"hex"}"#).unwrap();
        assert!(file.into_response().is_err());
    }
}
