//! The command line, as DESIGN.md's contract spells it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

    /// Seconds a client may take to send a request head, and may stay idle
    /// between requests.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub client_timeout: u64,
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
    },
    /// Show one exchange: headers and decoded bodies.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// List capture sessions.
    Sessions {
        #[arg(long)]
        json: bool,
    },
    /// Delete every captured exchange and session.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Har,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only exchanges of this session.
    #[arg(long, value_name = "ID")]
    pub session: Option<i64>,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
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
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
