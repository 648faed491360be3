//! `interpose cookies ...`: the jar that captured `Set-Cookie` headers fill.

use std::io::Write;

use interpose_store::Store;

use crate::args::CookiesCommand;
use crate::output;
use crate::DataDir;

pub fn run(data: &DataDir, cmd: CookiesCommand) -> anyhow::Result<()> {
    let store = Store::open(&data.db_path())?;
    let mut out = std::io::stdout().lock();
    match cmd {
        CookiesCommand::List { domain, json } => {
            let cookies = store.cookies(domain.as_deref())?;
            if json {
                serde_json::to_writer_pretty(&mut out, &cookies)?;
                writeln!(out)?;
                return Ok(());
            }
            if cookies.is_empty() {
                match &domain {
                    Some(d) => writeln!(out, "no cookies for {d} or its subdomains")?,
                    None => writeln!(
                        out,
                        "no cookies yet: Set-Cookie headers in captured responses go here"
                    )?,
                }
                return Ok(());
            }
            writeln!(
                out,
                "{:<28} {:<16} {:<20} {:<32} {:<19}  FLAGS",
                "DOMAIN", "PATH", "NAME", "VALUE", "EXPIRES (UTC)"
            )?;
            for c in cookies {
                let c = c.cookie;
                let mut flags = Vec::new();
                if c.host_only {
                    flags.push("host-only".to_string());
                }
                if c.secure {
                    flags.push("Secure".into());
                }
                if c.http_only {
                    flags.push("HttpOnly".into());
                }
                if let Some(s) = &c.same_site {
                    flags.push(format!("SameSite={s}"));
                }
                writeln!(
                    out,
                    "{:<28} {:<16} {:<20} {:<32} {:<19}  {}",
                    c.domain,
                    output::truncate(&c.path, 16),
                    output::truncate(&c.name, 20),
                    output::truncate(&c.value, 32),
                    c.expires_at_us
                        .map_or_else(|| "session".to_string(), output::timestamp),
                    flags.join(" ")
                )?;
            }
        }
        CookiesCommand::Clear => {
            let n = store.clear_cookies()?;
            writeln!(out, "deleted {n} cookies")?;
        }
    }
    Ok(())
}
