//! `interpose export` and `interpose import`: the store to and from files
//! other tools read and write. The mapping is `interpose-formats`'; this
//! module picks the exchanges, names the result and handles the files.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use interpose_formats::postman::Organize;
use interpose_store::{Query, Store};

use crate::args::{ExportArgs, ExportFormat, ImportCommand};
use crate::DataDir;

pub fn export(data: &DataDir, args: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open(&data.db_path())?;
    let collection = match &args.collection {
        Some(name) => Some(find_collection(&store, name)?),
        None => None,
    };
    let query = Query {
        session: args.session,
        collection: collection.as_ref().map(|c| c.id),
        ..Query::default()
    };
    let mut exchanges = store.exchanges(&query)?;
    // The store keeps exchanges in the order they completed; an export lists
    // them in the order they started, as the client sent them.
    exchanges.sort_by_key(|e| (e.started_at_us, e.id));
    let count = exchanges.len();
    let version = env!("CARGO_PKG_VERSION");

    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        match args.format {
            ExportFormat::Har => {
                interpose_formats::har::write_har(out, exchanges.iter().cloned(), version)?
            }
            ExportFormat::Curl => interpose_formats::curl::write_curl(out, &exchanges)?,
            ExportFormat::Postman => {
                let (name, organize) = match &collection {
                    Some(c) => {
                        let stored = c.organize_by.parse::<Organize>().with_context(|| {
                            format!(
                                "collection {:?} is organized by {:?}, which this interpose \
                                 does not know; pass --organize-by",
                                c.name, c.organize_by
                            )
                        });
                        let organize = match args.organize_by {
                            Some(o) => o,
                            None => stored?,
                        };
                        (c.name.clone(), organize)
                    }
                    None => (
                        match args.session {
                            Some(id) => format!("interpose session {id}"),
                            None => "interpose history".to_string(),
                        },
                        args.organize_by.unwrap_or_default(),
                    ),
                };
                interpose_formats::postman::write_collection(out, &name, &exchanges, organize)?
            }
        }
        Ok(())
    };

    match &args.output {
        Some(path) => {
            write_atomically(path, |file| write(file))?;
            let what = match args.format {
                ExportFormat::Har => "HAR entries",
                ExportFormat::Postman => "requests in a Postman collection",
                ExportFormat::Curl => "curl commands",
            };
            eprintln!("wrote {count} {what} to {}", path.display());
        }
        None => write(&mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// Writes `path` through a file beside it, renamed into place once
/// complete, so a failed export never leaves half a file where a good one
/// was.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).with_context(|| {
        format!(
            "cannot create {} (does the folder {} exist?)",
            tmp.display(),
            dir.map_or_else(|| ".".into(), |d| d.display().to_string())
        )
    })?;
    if let Err(e) = write(&mut file) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move the export into {}", path.display()))
}

/// The collection `name`, or an error listing the ones there are.
pub fn find_collection(store: &Store, name: &str) -> anyhow::Result<interpose_store::Collection> {
    if let Some(c) = store.collection(name)? {
        return Ok(c);
    }
    let names: Vec<String> = store
        .collections()?
        .into_iter()
        .map(|c| c.collection.name)
        .collect();
    if names.is_empty() {
        anyhow::bail!(
            "no collection {name:?}: there are none yet; `interpose capture --save-to \
             collection:{name}` makes it"
        )
    }
    anyhow::bail!(
        "no collection {name:?} (there are: {}); `interpose collections list` shows them",
        names.join(", ")
    )
}

pub fn import(data: &DataDir, cmd: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Har { file } = cmd;
    let input = std::fs::File::open(&file)
        .with_context(|| format!("cannot open the HAR file {}", file.display()))?;
    // Everything is read and checked before the store is touched: a bad
    // entry leaves no half-imported session.
    let mut exchanges = interpose_formats::har::read_har(input)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let store_path = data.db_path();
    let mut store = Store::open(&store_path)?;
    let detail = std::path::absolute(&file).unwrap_or_else(|_| file.clone());
    let session = store.begin_session("import", &detail.display().to_string())?;
    for ex in &mut exchanges {
        ex.session_id = session;
    }
    let stored = store.insert(&mut exchanges);
    store.end_session(session, 0)?;
    stored?;
    println!(
        "imported {} exchanges from {} as session {session}",
        exchanges.len(),
        file.display()
    );
    Ok(())
}
