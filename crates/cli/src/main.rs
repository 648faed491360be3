//! The `interpose` binary: argument parsing, the data directory, wiring the
//! crates together, and everything printed to the terminal. Protocol and
//! storage logic live in the library crates; this crate only connects them.

mod args;
mod ca;
mod capture;
mod collections;
mod cookies;
mod export;
mod history;
mod output;
mod route_cmd;
mod send;
mod settings_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("INTERPOSE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = DataDir::resolve(cli.data_dir)?;
    match cli.command {
        Command::Capture(args) => capture::run(&data, args),
        Command::Ca(cmd) => ca::run(&data, cmd),
        Command::History(cmd) => history::run(&data, cmd),
        Command::Export(args) => export::export(&data, args),
        Command::Import(cmd) => export::import(&data, cmd),
        Command::Collections(cmd) => collections::run(&data, cmd),
        Command::Cookies(cmd) => cookies::run(&data, cmd),
        Command::Send(args) => send::send(&data, args),
        Command::Replay(args) => send::replay(&data, args),
        Command::Route(args) => route_cmd::run(&data, args),
        Command::Settings(cmd) => settings_cmd::run(&data, cmd),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The data directory and the files DESIGN.md puts in it.
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    /// `--data-dir`, else `INTERPOSE_HOME`, else the platform data dir.
    fn resolve(flag: Option<PathBuf>) -> anyhow::Result<DataDir> {
        let root = match flag.or_else(|| std::env::var_os("INTERPOSE_HOME").map(PathBuf::from)) {
            Some(dir) => dir,
            None => directories::ProjectDirs::from("", "", "interpose")
                .map(|d| d.data_dir().to_path_buf())
                .context(
                    "cannot find a home directory for the data dir; pass --data-dir DIR or set \
                     INTERPOSE_HOME",
                )?,
        };
        Ok(DataDir { root })
    }

    pub fn proxy_dir(&self) -> PathBuf {
        self.root.join("proxy")
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("interpose.db")
    }

    pub fn settings_path(&self) -> PathBuf {
        self.root.join("settings.toml")
    }
}
