//! `interpose history ...` and `interpose export`: views over the store.

use std::io::Write;

use anyhow::Context;
use interpose_capture::{decode_body, header_value, Body, Header};
use interpose_store::{Query, Store};

use crate::args::{ExportArgs, ExportFormat, HistoryCommand};
use crate::output;
use crate::DataDir;

pub fn run(data: &DataDir, cmd: HistoryCommand) -> anyhow::Result<()> {
    let store = Store::open(&data.db_path())?;
    let mut out = std::io::stdout().lock();
    match cmd {
        HistoryCommand::List {
            json,
            limit,
            session,
        } => {
            let mut rows = store.summaries(&Query {
                session,
                limit,
                newest_first: true,
                ..Query::default()
            })?;
            rows.reverse();
            if json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
                return Ok(());
            }
            if rows.is_empty() {
                writeln!(
                    out,
                    "no exchanges yet: run `interpose capture` and send traffic through it"
                )?;
                return Ok(());
            }
            writeln!(
                out,
                "{:>6}  {:<19}  {:<7} {:>6}  {:<30} {:<40} {:>9} {:>8}",
                "ID", "TIME (UTC)", "METHOD", "STATUS", "HOST", "PATH", "SIZE", "DURATION"
            )?;
            for row in rows {
                let (host, path) = split_host_path(&row.url);
                let status = match (row.status, row.websocket) {
                    (Some(s), true) => format!("{s} ws"),
                    (Some(s), false) => s.to_string(),
                    (None, _) => "ERR".into(),
                };
                writeln!(
                    out,
                    "{:>6}  {:<19}  {:<7} {:>6}  {:<30} {:<40} {:>9} {:>8}",
                    row.id,
                    output::timestamp(row.started_at_us),
                    row.method,
                    status,
                    truncate(host, 30),
                    truncate(path, 40),
                    output::size(row.response_size),
                    output::duration(row.duration_ms),
                )?;
            }
        }
        HistoryCommand::Show { id, json } => {
            let ex = store.get(id)?.with_context(|| {
                format!(
                    "no exchange {id} in {}; `interpose history list` shows the ids",
                    store.path().display()
                )
            })?;
            if json {
                serde_json::to_writer_pretty(&mut out, &interpose_formats::har::entry(&ex))?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "{} {} {}",
                ex.request.method, ex.request.url, ex.request.http_version
            )?;
            write_headers(&mut out, &ex.request.headers)?;
            write_body(&mut out, &ex.request.body, &ex.request.headers)?;
            writeln!(out)?;
            match &ex.response {
                Some(resp) => {
                    writeln!(out, "{} {} {}", resp.http_version, resp.status, resp.reason)?;
                    write_headers(&mut out, &resp.headers)?;
                    write_body(&mut out, &resp.body, &resp.headers)?;
                }
                None => writeln!(out, "(no response)")?,
            }
            if let Some(error) = &ex.error {
                writeln!(out, "\nerror: {error}")?;
            }
            let t = &ex.timings;
            writeln!(
                out,
                "\nsession {} · client {} · {} · total {}",
                ex.session_id,
                ex.client_addr,
                output::timestamp(ex.started_at_us),
                output::duration(t.total())
            )?;
        }
        HistoryCommand::Sessions { json } => {
            let sessions = store.sessions()?;
            if json {
                serde_json::to_writer_pretty(&mut out, &sessions)?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "{:>4}  {:<19}  {:>9}  {:<7} {:>9} {:>10}  DETAIL",
                "ID", "STARTED (UTC)", "DURATION", "SOURCE", "EXCHANGES", "BYTES"
            )?;
            for s in sessions {
                let duration = s.session.ended_at_us.map_or_else(
                    || "running".to_string(),
                    |end| output::duration((end - s.session.started_at_us) as f64 / 1000.0),
                );
                writeln!(
                    out,
                    "{:>4}  {:<19}  {:>9}  {:<7} {:>9} {:>10}  {}",
                    s.session.id,
                    output::timestamp(s.session.started_at_us),
                    duration,
                    s.session.source,
                    s.exchanges,
                    output::size(s.bytes),
                    s.session.detail
                )?;
            }
        }
        HistoryCommand::Clear => {
            let n = store.clear()?;
            writeln!(out, "deleted {n} exchanges")?;
        }
    }
    Ok(())
}

pub fn export(data: &DataDir, args: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open(&data.db_path())?;
    let exchanges = store.exchanges(&Query {
        session: args.session,
        ..Query::default()
    })?;
    let version = env!("CARGO_PKG_VERSION");
    match (args.format, args.output) {
        (ExportFormat::Har, Some(path)) => {
            // Write beside the target and rename, so a failed export never
            // leaves half a file where a good one was.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            let tmp = path.with_extension("har.tmp");
            let file = std::fs::File::create(&tmp).with_context(|| {
                format!(
                    "cannot create {} (does the folder {} exist?)",
                    tmp.display(),
                    dir.map_or_else(|| ".".into(), |d| d.display().to_string())
                )
            })?;
            let count = exchanges.len();
            interpose_formats::har::write_har(file, exchanges, version)?;
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("cannot move the export into {}", path.display()))?;
            eprintln!("wrote {count} entries to {}", path.display());
        }
        (ExportFormat::Har, None) => {
            interpose_formats::har::write_har(std::io::stdout().lock(), exchanges, version)?;
        }
    }
    Ok(())
}

fn write_headers(out: &mut impl Write, headers: &[Header]) -> std::io::Result<()> {
    for h in headers {
        writeln!(out, "{}: {}", h.name, h.value)?;
    }
    Ok(())
}

/// Decoded, and pretty-printed when it is JSON; binary bodies are described,
/// not dumped on the terminal.
fn write_body(out: &mut impl Write, body: &Body, headers: &[Header]) -> std::io::Result<()> {
    if let Some(omitted) = body.omitted {
        writeln!(
            out,
            "\n({} body not kept: {})",
            output::size(body.size),
            omitted.as_str()
        )?;
        return Ok(());
    }
    if body.size == 0 {
        return Ok(());
    }
    writeln!(out)?;
    let decoded = match decode_body(&body.bytes, body.encoding.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            writeln!(out, "({e}; showing the bytes as sent)")?;
            body.bytes.clone()
        }
    };
    let is_json = header_value(headers, "content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    match std::str::from_utf8(&decoded) {
        Ok(text) if is_json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )?,
            Err(_) => writeln!(out, "{text}")?,
        },
        Ok(text) => writeln!(out, "{text}")?,
        Err(_) => writeln!(
            out,
            "({} of binary data)",
            output::size(decoded.len() as u64)
        )?,
    }
    if body.truncated {
        writeln!(
            out,
            "(truncated: {} kept of {})",
            output::size(body.bytes.len() as u64),
            output::size(body.size)
        )?;
    }
    Ok(())
}

fn split_host_path(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
