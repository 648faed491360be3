//! `interpose collections ...`: the collections `capture --save-to
//! collection:NAME` fills, shown in their folders.

use std::io::Write;

use interpose_capture::Exchange;
use interpose_formats::postman::{folders, Organize};
use interpose_store::{ExchangeSummary, Query, Store};

use crate::args::CollectionsCommand;
use crate::export::find_collection;
use crate::output;
use crate::DataDir;

pub fn run(data: &DataDir, cmd: CollectionsCommand) -> anyhow::Result<()> {
    let store = Store::open(&data.db_path())?;
    let mut out = std::io::stdout().lock();
    match cmd {
        CollectionsCommand::List { json } => {
            let list = store.collections()?;
            if json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
                return Ok(());
            }
            if list.is_empty() {
                writeln!(
                    out,
                    "no collections yet: `interpose capture --save-to collection:NAME` makes one"
                )?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<24} {:<16} {:>8} {:>9} {:>10}  CREATED (UTC)",
                "NAME", "ORGANIZED BY", "SESSIONS", "EXCHANGES", "BYTES"
            )?;
            for c in list {
                writeln!(
                    out,
                    "{:<24} {:<16} {:>8} {:>9} {:>10}  {}",
                    c.collection.name,
                    c.collection.organize_by,
                    c.sessions,
                    c.exchanges,
                    output::size(c.bytes),
                    output::timestamp(c.collection.created_at_us)
                )?;
            }
        }
        CollectionsCommand::Show { name, json } => {
            let collection = find_collection(&store, &name)?;
            let organize: Organize = collection.organize_by.parse().unwrap_or_default();
            let mut items: Vec<(Vec<String>, ExchangeSummary)> = Vec::new();
            let q = Query {
                collection: Some(collection.id),
                ..Query::default()
            };
            store.for_each_exchange(&q, false, |ex: Exchange| {
                items.push((folders(&ex, organize), ExchangeSummary::of(&ex)));
            })?;
            // In the order they started, as the export lists them.
            items.sort_by_key(|(_, s)| (s.started_at_us, s.id));
            if json {
                let items: Vec<serde_json::Value> = items
                    .into_iter()
                    .map(|(folder, summary)| {
                        let mut v = serde_json::to_value(summary).expect("a summary serializes");
                        v["folder"] = folder.into();
                        v
                    })
                    .collect();
                let doc = serde_json::json!({
                    "name": collection.name,
                    "organize_by": collection.organize_by,
                    "created_at_us": collection.created_at_us,
                    "items": items,
                });
                serde_json::to_writer_pretty(&mut out, &doc)?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "{} (organized by {}; {} exchanges)",
                collection.name,
                collection.organize_by,
                items.len()
            )?;
            write_tree(&mut out, &Tree::of(items), 1)?;
        }
        CollectionsCommand::Delete { name } => {
            let collection = find_collection(&store, &name)?;
            let q = Query {
                collection: Some(collection.id),
                ..Query::default()
            };
            let kept = store.summaries(&q)?.len();
            store.delete_collection(&name)?;
            writeln!(
                out,
                "deleted collection {name:?}; its {kept} exchanges stay in the history"
            )?;
        }
    }
    Ok(())
}

/// Folders in order of their first request, requests in capture order.
#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
}

enum Node {
    Folder(String, Tree),
    Item(ExchangeSummary),
}

impl Tree {
    fn of(items: Vec<(Vec<String>, ExchangeSummary)>) -> Tree {
        let mut root = Tree::default();
        for (path, item) in items {
            let mut tree = &mut root;
            for name in path {
                let pos = tree
                    .nodes
                    .iter()
                    .position(|n| matches!(n, Node::Folder(f, _) if *f == name));
                let pos = pos.unwrap_or_else(|| {
                    tree.nodes.push(Node::Folder(name, Tree::default()));
                    tree.nodes.len() - 1
                });
                tree = match &mut tree.nodes[pos] {
                    Node::Folder(_, t) => t,
                    Node::Item(_) => unreachable!("positions found are folders"),
                };
            }
            tree.nodes.push(Node::Item(item));
        }
        root
    }
}

/// Folders end in `/`; requests are `#ID METHOD STATUS URL`.
fn write_tree(out: &mut impl Write, tree: &Tree, depth: usize) -> std::io::Result<()> {
    let indent = "  ".repeat(depth);
    for node in &tree.nodes {
        match node {
            Node::Folder(name, sub) => {
                writeln!(out, "{indent}{name}/")?;
                write_tree(out, sub, depth + 1)?;
            }
            Node::Item(row) => writeln!(
                out,
                "{indent}#{:<6} {:<7} {:<6} {}",
                row.id,
                row.method,
                output::status(row),
                row.url
            )?,
        }
    }
    Ok(())
}
