//! The command line, as DESIGN.md's contract spells it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use interpose_formats::postman::Organize;
use interpose_proxy::ReverseTarget;

#[derive(Debug, Parser)]
#[command(
    name = "interpose",
    version,
    about = "Capture, inspect and export HTTP(S) traffic between API clients and servers"
)]
pub struct Cli {
    /// Where the CA, settings and the store live (default: the platform data
    /// dir, e.g. ~/.local/share/interpose; also INTERPOSE_HOME).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the capture proxy (the main job).
    Capture(CaptureArgs),
    /// The certificate authority that signs intercepted HTTPS.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Captured exchanges.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Write captured exchanges to a file format other tools open.
    Export(ExportArgs),
    /// Bring exchanges recorded elsewhere into the history.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Collections: captures saved with `capture --save-to collection:NAME`.
    #[command(subcommand)]
    Collections(CollectionsCommand),
    /// The cookie jar that captured Set-Cookie headers fill.
    #[command(subcommand)]
    Cookies(CookiesCommand),
    /// Send one request (curl-like), through the current route.
    Send(SendArgs),
    /// Send a captured exchange again through the current route.
    Replay(ReplayArgs),
    /// Which proxy a URL takes, and which rule decided it.
    Route(RouteArgs),
    /// Proxy settings and defaults in DATA/settings.toml.
    #[command(subcommand)]
    Settings(SettingsCommand),
}

/// The route flags `send`, `replay` and `route` share; they beat settings
/// and the environment.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Use this proxy (http://, https://, socks5://, socks5h://; may
    /// carry user:pass@).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Credentials for the proxy.
    #[arg(long, value_name = "U:P")]
    pub proxy_user: Option<String>,
    /// Hosts that go direct (comma- or space-separated, NO_PROXY syntax).
    #[arg(long, value_name = "LIST")]
    pub proxy_bypass: Option<String>,
    /// Go direct, whatever settings and the environment say.
    #[arg(long, conflicts_with = "proxy")]
    pub no_proxy: bool,
    /// Ignore the system proxy (HTTP_PROXY and friends).
    #[arg(long)]
    pub no_system_proxy: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// `[METHOD] URL`: the method defaults to GET, or POST with a body.
    #[arg(required = true, num_args = 1..=2, value_name = "[METHOD] URL")]
    pub target: Vec<String>,
    /// A header, 'Name: value' (repeatable; any header).
    #[arg(short = 'H', long = "header", value_name = "K: V")]
    pub headers: Vec<String>,
    /// The body, or @FILE for a file's contents.
    #[arg(short = 'd', long = "data", value_name = "BODY|@FILE", conflicts_with_all = ["json", "form"])]
    pub data: Option<String>,
    /// A JSON body (sets Content-Type and Accept).
    #[arg(long, value_name = "BODY", conflicts_with = "form")]
    pub json: Option<String>,
    /// A multipart field: name=value or name=@path (repeatable).
    #[arg(short = 'F', long = "form", value_name = "name=value|name=@path")]
    pub form: Vec<String>,
    /// Basic auth.
    #[arg(long, value_name = "U:P", conflicts_with = "bearer")]
    pub basic: Option<String>,
    /// Bearer token auth.
    #[arg(long, value_name = "TOKEN")]
    pub bearer: Option<String>,
    #[command(flatten)]
    pub options: SendOptions,
    /// Use the cookie jar's cookies for this URL.
    #[arg(long)]
    pub cookies: bool,
    /// Record the exchange in the history.
    #[arg(long)]
    pub save: bool,
    /// Write the body to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options `send` and `replay` share.
#[derive(Debug, Args)]
pub struct SendOptions {
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Follow redirects.
    #[arg(long)]
    pub follow: bool,
    /// Do not check the target's certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The exchange's id (`history list`).
    pub id: i64,
    #[command(flatten)]
    pub options: SendOptions,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    pub url: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting (passwords as ***).
    Show,
    /// The settings file's path.
    Path,
    /// Change one setting.
    Set { key: String, value: String },
}

/// `--save-to`: where a capture run's exchanges go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveTo {
    History,
    /// A named collection (created if missing; a later run adds to it).
    Collection(String),
}

fn parse_save_to(s: &str) -> Result<SaveTo, String> {
    if s == "history" {
        return Ok(SaveTo::History);
    }
    match s.strip_prefix("collection:") {
        Some(name) if !name.trim().is_empty() => Ok(SaveTo::Collection(name.trim().to_string())),
        Some(_) => Err("collection: needs a name, e.g. --save-to collection:shop-api".into()),
        None => Err(format!(
            "{s:?} is not a place to save to: use history or collection:NAME"
        )),
    }
}

fn parse_organize(s: &str) -> Result<Organize, String> {
    s.parse::<Organize>().map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Address and port to listen on. Anything but loopback lets others on
    /// that network use the proxy.
    #[arg(long, default_value = "127.0.0.1:5555", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,

    /// Do not print a line per exchange.
    #[arg(long, short)]
    pub quiet: bool,

    /// Pass CONNECT tunnels to matching hosts through untouched (for
    /// certificate-pinned apps). A regex matched against host and host:port.
    /// Repeatable.
    #[arg(long = "ignore-hosts", value_name = "PAT")]
    pub ignore_hosts: Vec<String>,

    /// Also trust the CA certificates in this PEM file for origins.
    /// Repeatable. (SSL_CERT_FILE is honoured as well.)
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,

    /// Do not check origin certificates at all.
    #[arg(long)]
    pub insecure_upstream: bool,

    /// Keep at most this much of each body (e.g. 16MiB, 512KiB, 0); the rest
    /// is counted and the body marked truncated.
    #[arg(long, default_value = "16MiB", value_name = "SIZE", value_parser = parse_size)]
    pub max_body: usize,

    /// Keep requests only: response bodies are not stored.
    #[arg(long)]
    pub requests_only: bool,

    /// Forward without recording anything (for measuring the proxy alone).
    #[arg(long)]
    pub no_capture: bool,

    /// Where exchanges go: the history, or also a named collection
    /// (created if missing; a later run adds to it).
    #[arg(
        long,
        default_value = "history",
        value_name = "history|collection:NAME",
        value_parser = parse_save_to
    )]
    pub save_to: SaveTo,

    /// Folders of the collection: a folder per domain, per endpoint (path
    /// without query), or endpoint folders inside domain folders. Needs
    /// --save-to collection:NAME; stored on the collection.
    #[arg(long, value_name = "domain|endpoint|domain,endpoint", value_parser = parse_organize)]
    pub organize_by: Option<Organize>,

    /// Record only URLs containing PAT (case-insensitive), or matching
    /// /REGEX/ (/REGEX/i ignores case). Repeatable: any one is enough.
    #[arg(long = "include-url", value_name = "PAT")]
    pub include_url: Vec<String>,

    /// Do not record URLs containing PAT or matching /REGEX/. Repeatable;
    /// wins over --include-url.
    #[arg(long = "exclude-url", value_name = "PAT")]
    pub exclude_url: Vec<String>,

    /// Record only these request methods (comma-separated, repeatable).
    #[arg(long, value_name = "GET,POST,...")]
    pub methods: Vec<String>,

    /// Do not record images, JavaScript and CSS (by response content type,
    /// else by the URL's extension).
    #[arg(long)]
    pub exclude_assets: bool,

    /// Record only responses with these status codes or classes
    /// (comma-separated, repeatable).
    #[arg(long, value_name = "2xx,404,...")]
    pub status: Vec<String>,

    /// Seconds a client may take to send a request head, and may stay idle
    /// between requests.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub client_timeout: u64,

    /// Seconds to wait for a connection (and TLS handshake) to an origin,
    /// an upstream proxy or a reverse target before a 502; in reverse mode
    /// a target that takes longer is left out for --reverse-backoff.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout: u64,

    /// Transformation rules (TOML): set or remove headers, map to another
    /// host, answer locally. Reloaded when the file changes.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Reverse-proxy mode: take ordinary requests and send them to these
    /// targets, round-robin (comma-separated or repeated), e.g.
    /// http://127.0.0.1:8001,http://127.0.0.1:8002
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',', value_parser = parse_reverse_target)]
    pub reverse: Vec<ReverseTarget>,

    /// Reverse mode: seconds a target that refused a connection or timed
    /// out is left out of the rotation.
    #[arg(long, default_value_t = 10, value_name = "SECS", requires = "reverse")]
    pub reverse_backoff: u64,

    /// Reverse mode: the certificate (PEM chain, leaf first) for clients that
    /// speak TLS to the listener. Without it they get a leaf from
    /// interpose's CA.
    #[arg(long, value_name = "FILE", requires_all = ["reverse", "tls_key"])]
    pub tls_cert: Option<PathBuf>,

    /// Reverse mode: the private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires_all = ["reverse", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
}

fn parse_reverse_target(s: &str) -> Result<ReverseTarget, String> {
    ReverseTarget::parse(s)
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the path of the CA certificate (creating the CA if needed).
    Path,
    /// Write the CA certificate (PEM, or DER with --der) to stdout or a file.
    Export {
        #[arg(long)]
        der: bool,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Replace the CA with a fresh one (clients must trust the new one).
    Regenerate,
    /// Print how to trust the CA on each platform and browser.
    TrustHelp,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// List captured exchanges, oldest first.
    List {
        #[arg(long)]
        json: bool,
        /// Only the last N exchanges.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Only exchanges of this session.
        #[arg(long, value_name = "ID")]
        session: Option<i64>,
        /// Only exchanges matching EXPR: ~d domain, ~m METHOD, ~u regex,
        /// ~c CODE, ~t regex, ~h regex, ~b regex, with !, &, | and ( ).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
    /// Show one exchange: headers and decoded bodies.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// List capture sessions, with what each is made of (methods,
    /// domains, content types, status codes).
    Sessions {
        #[arg(long)]
        json: bool,
    },
    /// Delete every captured exchange and session.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// HAR 1.2 (browsers' devtools, HAR viewers).
    Har,
    /// Postman Collection v2.1 (Postman, newman).
    Postman,
    /// One curl command per exchange.
    Curl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only the exchanges of this collection.
    #[arg(long, value_name = "NAME", conflicts_with = "session")]
    pub collection: Option<String>,
    /// Only exchanges of this session.
    #[arg(long, value_name = "ID")]
    pub session: Option<i64>,
    /// Postman folders (default: the collection's own organization, else
    /// none).
    #[arg(long, value_name = "domain|endpoint|domain,endpoint|none", value_parser = parse_organize)]
    pub organize_by: Option<Organize>,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A HAR 1.2 file (Chrome or Firefox devtools, mitmproxy, interpose),
    /// as a new session with source `import`.
    Har { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum CollectionsCommand {
    /// Every collection with its organization and counts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A collection's requests, in its folders.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection; its exchanges stay in the history.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum CookiesCommand {
    /// Cookies in the jar that have not expired.
    List {
        /// Only cookies of this domain and its subdomains.
        #[arg(long, value_name = "D")]
        domain: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Empty the jar.
    Clear,
}

/// Parses `16MiB`, `512KiB`, `1MB`, `100` (bytes).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. 16MiB, 512KiB or 1048576"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?}; use KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_size("512kib"), Ok(512 * 1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn save_to_is_history_or_a_named_collection() {
        assert_eq!(parse_save_to("history"), Ok(SaveTo::History));
        assert_eq!(
            parse_save_to("collection:shop api"),
            Ok(SaveTo::Collection("shop api".into()))
        );
        assert!(parse_save_to("collection:").is_err());
        assert!(parse_save_to("collection: ").is_err());
        assert!(parse_save_to("elsewhere").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
