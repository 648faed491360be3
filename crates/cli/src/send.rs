//! `interpose send` and `interpose replay`: a request through the current
//! route (flags > custom proxy in settings > environment > direct), the
//! answer printed, and, when asked, the exchange recorded in the history.

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use anyhow::Context as _;
use interpose_capture::{domain_matches, Exchange};
use interpose_client::{
    Auth, Env, FormPart, ReplayDiff, RequestBody, SendRequest, SendResponse, Settings,
};
use interpose_store::Store;

use crate::args::{ReplayArgs, SendArgs, SendOptions};
use crate::route_cmd::{self, parse_url};
use crate::DataDir;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The options `send` and `replay` share, on a request.
fn apply_options(mut request: SendRequest, options: &SendOptions) -> anyhow::Result<SendRequest> {
    if let Some(secs) = options.timeout {
        anyhow::ensure!(
            secs.is_finite() && secs > 0.0,
            "--timeout {secs} is not a number of seconds above 0; write e.g. --timeout 2.5"
        );
        request.timeout = Some(Duration::from_secs_f64(secs));
    }
    request.follow_redirects = options.follow;
    request.insecure = options.insecure;
    request.extra_roots = options.upstream_ca.clone();
    request.flags = route_cmd::flags(&options.proxy);
    Ok(request)
}

pub fn send(data: &DataDir, args: SendArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&data.settings_path())?;
    let (method, url) = match args.target.as_slice() {
        [url] => (None, url.clone()),
        [method, url] => (Some(method.to_ascii_uppercase()), url.clone()),
        _ => anyhow::bail!("give [METHOD] URL"),
    };
    let mut request = SendRequest::new(url.clone());
    request.method = method;
    for line in &args.headers {
        request = request.header(line)?;
    }
    if let Some(data) = &args.data {
        request.body = RequestBody::data(data);
    }
    if let Some(json) = &args.json {
        request = request.json(json.clone());
    }
    if !args.form.is_empty() {
        let parts = args
            .form
            .iter()
            .map(|f| FormPart::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        request.body = RequestBody::Form(parts);
    }
    if let Some(basic) = &args.basic {
        request.auth = Some(Auth::basic(basic));
    } else if let Some(token) = &args.bearer {
        request.auth = Some(Auth::Bearer(token.clone()));
    }
    request = apply_options(request, &args.options)?;

    let store = if args.cookies || args.save {
        Some(Store::open(&data.db_path())?)
    } else {
        None
    };
    if args.cookies {
        let store = store.as_ref().expect("opened for --cookies");
        request.cookies = cookie_header(store, &url)?;
    }

    let rt = runtime()?;
    let mut response = rt.block_on(interpose_client::send(&request, &settings, &Env::Process))?;
    let mut out = std::io::stdout().lock();
    print_head(&mut out, &response)?;
    let body = rt.block_on(write_body(&mut out, &mut response, args.output.as_deref()));
    if let Some(mut store) = store.filter(|_| args.save) {
        let mut exchange = response.exchange();
        exchange.session_id = store.begin_session("send", &url)?;
        if let Err(e) = &body {
            exchange.error = Some(format!("{e:#}"));
        }
        store.insert_with_cookies(std::slice::from_mut(&mut exchange))?;
        if let Some(id) = exchange.id {
            eprintln!("saved as exchange {id}");
        }
    }
    body
}

pub fn replay(data: &DataDir, args: ReplayArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&data.settings_path())?;
    let mut store = Store::open(&data.db_path())?;
    let original = store.get(args.id)?.with_context(|| {
        format!(
            "no exchange {} in {}; `interpose history list` shows the ids",
            args.id,
            data.db_path().display()
        )
    })?;
    let options = apply_options(SendRequest::default(), &args.options)?;
    let rt = runtime()?;
    let mut response = rt.block_on(interpose_client::replay(
        &original,
        &options,
        &settings,
        &Env::Process,
    ))?;
    let body = rt.block_on(response.bytes());
    let mut exchange: Exchange = response.exchange();
    exchange.session_id = store.begin_session("replay", &format!("exchange {}", args.id))?;
    if let Err(e) = &body {
        exchange.error = Some(e.to_string());
    }
    store.insert_with_cookies(std::slice::from_mut(&mut exchange))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {} {}",
        response.version, response.status, response.reason
    )?;
    writeln!(out, "{}", ReplayDiff::between(&original, &exchange))?;
    if let Some(id) = exchange.id {
        writeln!(out, "saved as exchange {id} ({})", response.route.summary())?;
    }
    body?;
    Ok(())
}

fn print_head(out: &mut impl Write, response: &SendResponse) -> anyhow::Result<()> {
    writeln!(
        out,
        "{} {} {}",
        response.version, response.status, response.reason
    )?;
    for (name, value) in &response.headers {
        writeln!(out, "{name}: {value}")?;
    }
    writeln!(out)?;
    Ok(())
}

/// The body to `--output FILE`, else to stdout: JSON pretty-printed when
/// stdout is a terminal, anything else as it came.
async fn write_body(
    out: &mut impl Write,
    response: &mut SendResponse,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if let Some(path) = output {
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut progress = Progress::new(response.content_length());
        while let Some(chunk) = response.chunk().await? {
            file.write_all(&chunk)
                .with_context(|| format!("cannot write {}", path.display()))?;
            progress.show(response.received());
        }
        progress.done();
        file.flush()?;
        eprintln!(
            "{} bytes written to {}",
            response.received(),
            path.display()
        );
        return Ok(());
    }
    let is_json = response
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if is_json && std::io::stdout().is_terminal() {
        let bytes = response.bytes().await?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(value) => writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?,
            Err(_) => out.write_all(&bytes)?,
        }
    } else {
        while let Some(chunk) = response.chunk().await? {
            out.write_all(&chunk)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A one-line progress bar on stderr for `--output` downloads of at least
/// [`Progress::MIN`] bytes, only when stderr is a terminal.
struct Progress {
    total: Option<u64>,
    active: bool,
    last: std::time::Instant,
}

impl Progress {
    const MIN: u64 = 1024 * 1024;

    fn new(total: Option<u64>) -> Progress {
        Progress {
            total,
            active: std::io::stderr().is_terminal() && total.is_none_or(|t| t >= Progress::MIN),
            last: std::time::Instant::now(),
        }
    }

    fn show(&mut self, received: u64) {
        if !self.active || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = std::time::Instant::now();
        let line = match self.total {
            Some(total) if total > 0 => {
                let done = (received.min(total) * 30 / total) as usize;
                format!(
                    "[{}{}] {:>3}% {} / {} KiB",
                    "#".repeat(done),
                    " ".repeat(30 - done),
                    received.min(total) * 100 / total,
                    received / 1024,
                    total / 1024
                )
            }
            _ => format!("{} KiB", received / 1024),
        };
        eprint!("\r{line}");
    }

    fn done(&self) {
        if self.active {
            eprint!("\r\x1b[2K");
        }
    }
}

/// A `Cookie` value from the jar's cookies for `url` (RFC 6265 5.4: domain,
/// path and `Secure`), or `None` when none apply.
fn cookie_header(store: &Store, raw_url: &str) -> anyhow::Result<Option<String>> {
    let url = parse_url(raw_url)?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let path = url.path();
    let https = url.scheme() == "https";
    let pairs: Vec<String> = store
        .cookies(None)?
        .into_iter()
        .map(|c| c.cookie)
        .filter(|c| {
            let domain_ok = if c.host_only {
                host == c.domain
            } else {
                domain_matches(&host, &c.domain)
            };
            let path_ok = path == c.path
                || (path.starts_with(&c.path)
                    && (c.path.ends_with('/') || path[c.path.len()..].starts_with('/')));
            domain_ok && path_ok && (https || !c.secure)
        })
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    Ok((!pairs.is_empty()).then(|| pairs.join("; ")))
}
