//! `interpose capture`: wires the proxy to the store and the terminal, and
//! owns the process's lifetime (signals, graceful stop, final flush).

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use interpose_capture::{BodyPolicy, CaptureFilter, CaptureFilterSpec, Exchange};
use interpose_formats::postman::Organize;
use interpose_proxy::{LiveRules, Proxy, ProxyConfig, ReverseConfig, Sink, UpstreamTls};
use interpose_store::{spawn_writer, Store};
use interpose_tls::{CertificateAuthority, LeafIssuer};
use tokio_util::sync::CancellationToken;

use crate::args::{CaptureArgs, SaveTo};
use crate::output::exchange_line;
use crate::DataDir;

/// Records waiting for the store; past this the record (never the traffic)
/// is dropped and counted.
const STORE_QUEUE: usize = 8192;
/// Leaf certificates kept in memory.
const LEAF_CACHE: u64 = 1000;
/// How often the rules file is looked at for changes.
const RULES_POLL: Duration = Duration::from_millis(300);

pub fn run(data: &DataDir, args: CaptureArgs) -> anyhow::Result<()> {
    // Every option is checked before anything is created or listened on.
    let filter = CaptureFilter::new(&CaptureFilterSpec {
        include_url: args.include_url.clone(),
        exclude_url: args.exclude_url.clone(),
        methods: args.methods.clone(),
        exclude_assets: args.exclude_assets,
        status: args.status.clone(),
    })?;
    if let (Some(organize), SaveTo::History) = (args.organize_by, &args.save_to) {
        anyhow::bail!(
            "--organize-by {organize} organizes a collection, and this capture saves to the \
             history only; add --save-to collection:NAME"
        );
    }
    let ignore_hosts = args
        .ignore_hosts
        .iter()
        .map(|p| {
            regex::Regex::new(p)
                .with_context(|| format!("--ignore-hosts {p:?} is not a valid regular expression"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // A bad rules file stops start-up with its own message (file, line, rule).
    let rules = match &args.rules {
        Some(path) => Some(Arc::new(LiveRules::load(path)?)),
        None => None,
    };

    // So is the listener's certificate (the proxy loads it again to serve it).
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        interpose_tls::server_config_from_files(cert, key, &[])?;
    }

    let proxy_dir = data.proxy_dir();
    let ca = CertificateAuthority::load_or_create(&proxy_dir)?;
    let ca_path = CertificateAuthority::cert_path(&proxy_dir);
    let issuer = LeafIssuer::new(&ca, LEAF_CACHE)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let config = ProxyConfig {
            bodies: BodyPolicy {
                max_body: args.max_body,
                keep_responses: !args.requests_only,
            },
            ignore_hosts,
            upstream_tls: UpstreamTls {
                extra_roots: args.upstream_ca.clone(),
                insecure: args.insecure_upstream,
            },
            client_timeout: Duration::from_secs(args.client_timeout),
            connect_timeout: Duration::from_secs(args.connect_timeout),
            reverse: (!args.reverse.is_empty()).then(|| ReverseConfig {
                targets: args.reverse.clone(),
                backoff: Duration::from_secs(args.reverse_backoff),
                certificate: args.tls_cert.clone().zip(args.tls_key.clone()),
            }),
            rules: rules.clone(),
            ..ProxyConfig::default()
        };

        let recording = if args.no_capture {
            None
        } else {
            let store = Store::open(&data.db_path())?;
            let collection = match &args.save_to {
                SaveTo::History => None,
                SaveTo::Collection(name) => {
                    let (collection, created) =
                        store.open_collection(name, args.organize_by.map(Organize::as_str))?;
                    Some((collection, created))
                }
            };
            let session = store.begin_session_in(
                if args.reverse.is_empty() {
                    "proxy"
                } else {
                    "reverse"
                },
                &args.listen.to_string(),
                collection.as_ref().map(|(c, _)| c.id),
            )?;
            let (recorder, writer) = spawn_writer(&data.db_path(), STORE_QUEUE)?;
            Some((store, session, recorder, writer, collection))
        };
        let printer = (!args.quiet).then(Printer::start);
        let filter = Arc::new(filter);
        let sink: Option<Sink> = recording.as_ref().map(|(_, _, recorder, _, _)| {
            let recorder = recorder.clone();
            let printer = printer.clone();
            let filter = Arc::clone(&filter);
            Arc::new(move |exchange: Exchange| {
                // Filters limit what is recorded; the exchange was forwarded
                // in full whatever they say.
                if !filter.keeps(&exchange) {
                    return;
                }
                if let Some(p) = &printer {
                    p.line(exchange_line(&exchange));
                }
                recorder.record(exchange);
            }) as Sink
        });
        let config = ProxyConfig {
            session_id: recording.as_ref().map_or(0, |r| r.1),
            ..config
        };

        let proxy = match Proxy::bind(args.listen, config, issuer, sink).await {
            Ok(proxy) => proxy,
            Err(e) => {
                // It never listened: end the session rather than leave it
                // looking like a capture that is still running.
                if let Some((store, session, _, _, _)) = &recording {
                    let _ = store.end_session(*session, 0);
                }
                return Err(e.into());
            }
        };
        let addr = proxy.local_addr();
        if let Some((store, session, _, _, _)) = &recording {
            // The session says where it really listened (not port 0).
            store.set_session_detail(*session, &addr.to_string())?;
        }
        // Handlers go in before the banner: a client (or a script) may send
        // SIGTERM as soon as it reads "listening on", and until a handler is
        // installed that signal kills the process without a flush.
        let signals = Signals::new();
        let session = recording.as_ref().map(|r| r.1);
        if args.reverse.is_empty() {
            banner(addr, &ca_path, ca.created_now(), session);
        } else {
            reverse_banner(addr, &args, &ca_path, session);
        }
        if let Some((_, _, _, _, Some((collection, created)))) = &recording {
            println!(
                "Saving to {} collection {:?} (organized by {}); also in the history",
                if *created { "new" } else { "existing" },
                collection.name,
                collection.organize_by
            );
        }
        if !filter.is_empty() {
            println!("{}", describe_filters(&args));
        }

        let shutdown = CancellationToken::new();
        if let Some(live) = rules {
            let rules = live.current();
            println!(
                "Rules: {} from {} ({}; reloaded when the file changes)",
                rules.len(),
                live.path().display(),
                rules.names().join(", ")
            );
            tokio::spawn(watch_rules(live, shutdown.clone()));
        }
        tokio::spawn(watch_signals(signals, shutdown.clone()));
        proxy.run(shutdown).await;

        if let Some((store, session, recorder, writer, _)) = recording {
            let stats = writer.finish()?;
            let dropped = recorder.dropped();
            store.end_session(session, dropped)?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "stopped; session {session}: {} exchanges stored{}",
                stats.written,
                if dropped > 0 {
                    format!(", {dropped} not recorded because the store fell behind")
                } else {
                    String::new()
                }
            );
        }
        anyhow::Ok(())
    })?;
    // Tunnels still open past the grace period are cut here.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// One line saying which capture filters are on.
fn describe_filters(args: &CaptureArgs) -> String {
    let mut parts = Vec::new();
    for p in &args.include_url {
        parts.push(format!("--include-url {p}"));
    }
    for p in &args.exclude_url {
        parts.push(format!("--exclude-url {p}"));
    }
    if !args.methods.is_empty() {
        parts.push(format!("--methods {}", args.methods.join(",")));
    }
    if args.exclude_assets {
        parts.push("--exclude-assets".into());
    }
    if !args.status.is_empty() {
        parts.push(format!("--status {}", args.status.join(",")));
    }
    format!(
        "Recording only what passes {} (everything is still forwarded)",
        parts.join(" ")
    )
}

fn banner(
    addr: std::net::SocketAddr,
    ca_path: &std::path::Path,
    new_ca: bool,
    session: Option<i64>,
) {
    let mut out = std::io::stdout().lock();
    let session = session.map_or_else(
        || " (not recording)".to_string(),
        |s| format!(" (session {s})"),
    );
    let _ = writeln!(out, "interpose capture listening on http://{addr}{session}");
    let _ = writeln!(
        out,
        "CA certificate: {}{}",
        ca_path.display(),
        if new_ca {
            " (new: clients must trust it for HTTPS)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "Point a client at it: curl -x http://{addr} --cacert {} https://example.com/ \
         (devices: set the HTTP proxy to this address, then install the CA; `interpose ca trust-help`)",
        ca_path.display()
    );
    if !addr.ip().is_loopback() {
        let _ = writeln!(
            out,
            "warning: listening on {addr}: anyone who can reach this address can use this proxy \
             and read what it decrypts; use --listen 127.0.0.1:PORT unless a device needs it"
        );
    }
    let _ = out.flush();
}

fn reverse_banner(
    addr: std::net::SocketAddr,
    args: &CaptureArgs,
    ca_path: &std::path::Path,
    session: Option<i64>,
) {
    let mut out = std::io::stdout().lock();
    let session = session.map_or_else(
        || " (not recording)".to_string(),
        |s| format!(" (session {s})"),
    );
    let targets: Vec<String> = args.reverse.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "interpose reverse proxy listening on http://{addr} and https://{addr}{session}"
    );
    let _ = writeln!(out, "Forwarding to {} (round-robin)", targets.join(", "));
    let _ = match &args.tls_cert {
        Some(cert) => writeln!(out, "TLS clients get the certificate in {}", cert.display()),
        None => writeln!(
            out,
            "TLS clients get a certificate from the interpose CA ({}; or give --tls-cert/--tls-key)",
            ca_path.display()
        ),
    };
    if !addr.ip().is_loopback() {
        let _ = writeln!(
            out,
            "warning: listening on {addr}: anyone who can reach this address can send requests \
             to {}; use --listen 127.0.0.1:PORT unless others need it",
            targets.join(", ")
        );
    }
    let _ = out.flush();
}

/// Reloads the rules file when it changes; a bad edit is reported once and
/// the rules in force stay.
async fn watch_rules(live: Arc<LiveRules>, shutdown: CancellationToken) {
    let report_live = live.clone();
    let report = move |outcome: Result<usize, interpose_rules::RulesError>| match outcome {
        Ok(n) => eprintln!(
            "rules: reloaded {}: {n} rules ({})",
            report_live.path().display(),
            report_live.current().names().join(", ")
        ),
        Err(e) => eprintln!(
            "rules: {e}\nrules: keeping the {} rules in force until the file is fixed",
            report_live.current().len()
        ),
    };
    interpose_rules::watch(live, RULES_POLL, shutdown, report).await;
}

/// SIGINT or SIGTERM stops gracefully; a second one exits at once.
async fn watch_signals(mut signals: Signals, shutdown: CancellationToken) {
    signals.next().await;
    eprintln!("stopping: finishing exchanges in flight (press Ctrl-C again to quit at once)");
    shutdown.cancel();
    signals.next().await;
    eprintln!("quitting now");
    std::process::exit(130);
}

/// SIGINT and SIGTERM, listened to from the moment this is made (not from
/// the first `next`, as `tokio::signal::ctrl_c()` alone would be).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                int: signal(SignalKind::interrupt()).expect("installing a SIGINT handler"),
                term: signal(SignalKind::terminate()).expect("installing a SIGTERM handler"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Prints exchange lines on its own thread, so a slow or blocked terminal
/// never slows the proxy; lines that cannot keep up are skipped.
#[derive(Clone)]
struct Printer(SyncSender<String>);

impl Printer {
    fn start() -> Printer {
        let (tx, rx) = sync_channel::<String>(1024);
        std::thread::spawn(move || {
            let stdout = std::io::stdout();
            for line in rx {
                let mut out = stdout.lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
        });
        Printer(tx)
    }

    fn line(&self, line: String) {
        match self.0.try_send(line) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}
