//! `interpose history ...`: views over the store.

use std::io::Write;

use anyhow::Context;
use interpose_capture::{decode_body, header_value, Body, Header, SearchExpr};
use interpose_store::{ExchangeSummary, Query, Store};

use crate::args::HistoryCommand;
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
            filter,
        } => {
            let filtering = filter.is_some();
            let rows = match filter {
                None => {
                    let mut rows = store.summaries(&Query {
                        session,
                        limit,
                        newest_first: true,
                        ..Query::default()
                    })?;
                    rows.reverse();
                    rows
                }
                Some(filter) => filtered(&store, session, limit, &filter)?,
            };
            if json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
                return Ok(());
            }
            if rows.is_empty() {
                if filtering {
                    writeln!(out, "no exchanges match the filter")?;
                } else {
                    writeln!(
                        out,
                        "no exchanges yet: run `interpose capture` and send traffic through it"
                    )?;
                }
                return Ok(());
            }
            output::write_exchange_table(&mut out, &rows)?;
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
            if !ex.rules.is_empty() {
                writeln!(out, "\nrules applied: {}", ex.rules.join(", "))?;
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
            let mut breakdowns = store.session_breakdowns()?;
            if json {
                let list: Vec<serde_json::Value> = sessions
                    .iter()
                    .map(|s| {
                        let mut v = serde_json::to_value(s).expect("a session serializes");
                        v["breakdown"] = serde_json::to_value(
                            breakdowns.remove(&s.session.id).unwrap_or_default(),
                        )
                        .expect("a breakdown serializes");
                        v
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
                return Ok(());
            }
            if sessions.is_empty() {
                writeln!(
                    out,
                    "no sessions yet: each `interpose capture` run (or `import har`) is one"
                )?;
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
                let mut detail = s.session.detail.clone();
                if let Some(collection) = &s.session.collection {
                    detail.push_str(&format!(" → collection {collection}"));
                }
                if s.session.dropped > 0 {
                    detail.push_str(&format!(" ({} not recorded)", s.session.dropped));
                }
                writeln!(
                    out,
                    "{:>4}  {:<19}  {:>9}  {:<7} {:>9} {:>10}  {}",
                    s.session.id,
                    output::timestamp(s.session.started_at_us),
                    duration,
                    s.session.source,
                    s.exchanges,
                    output::size(s.bytes),
                    detail
                )?;
                if let Some(b) = breakdowns.remove(&s.session.id) {
                    for (label, counts) in [
                        ("methods", &b.methods),
                        ("domains", &b.domains),
                        ("types", &b.content_types),
                        ("statuses", &b.statuses),
                    ] {
                        writeln!(out, "      {label:<9} {}", output::top_counts(counts, 4))?;
                    }
                }
            }
        }
        HistoryCommand::Clear => {
            let n = store.clear()?;
            writeln!(out, "deleted {n} exchanges")?;
        }
    }
    Ok(())
}

/// `history list --filter EXPR`: the exchanges of `session` (or all) that
/// match, oldest first, the last `limit` of them. Bodies are read only when
/// the expression looks at them (`~b`).
fn filtered(
    store: &Store,
    session: Option<i64>,
    limit: Option<usize>,
    filter: &str,
) -> anyhow::Result<Vec<ExchangeSummary>> {
    let expr = SearchExpr::parse(filter).map_err(|e| {
        let rendered = e.render(filter);
        let indented: Vec<String> = rendered.lines().map(|l| format!("  {l}")).collect();
        anyhow::anyhow!("invalid --filter expression:\n{}", indented.join("\n"))
    })?;
    let mut rows = std::collections::VecDeque::new();
    let q = Query {
        session,
        ..Query::default()
    };
    store.for_each_exchange(&q, expr.needs_bodies(), |ex| {
        if expr.matches(&ex) {
            rows.push_back(ExchangeSummary::of(&ex));
            if limit.is_some_and(|n| rows.len() > n) {
                rows.pop_front();
            }
        }
    })?;
    Ok(rows.into())
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
