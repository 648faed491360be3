#!/usr/bin/env node
// Loads a Postman collection with Postman's own SDK (postman-collection) and
// checks that the SDK reads it the way the file means it.
//
//   node tools/check-postman.js FILE [--expect-tree JSON]
//
// Prints the folder tree as the SDK sees it (folders end in `/`, requests
// are their names), then `ok FILE (N requests in M folders)`. Problems are
// printed one per line, where in the collection and what is wrong:
//
//   - the file is not JSON, or not a v2.1 collection (`info.schema`);
//   - the SDK refuses it, or sees a different tree than the JSON holds
//     (a folder or request it dropped or misread);
//   - a request has no method, or its parsed URL (protocol, host, port,
//     path, query) does not give back its `url.raw`, which is what Postman
//     shows while newman sends the parsed parts;
//   - a body mode the SDK does not know, or a saved example without a
//     numeric `code`.
//
// --expect-tree takes the tree as JSON: a list whose strings are request
// names and whose one-key objects are folders, e.g.
//   [{"api.test": [{"/v1/items": ["GET /v1/items", "POST /v1/items"]}]}]
// and exits 1 when the SDK's tree differs, printing both.
//
// Exit status: 0 valid (and matching), 1 invalid or mismatched, 2 bad usage
// or the SDK not installed.
'use strict'

const fs = require('fs')
const path = require('path')

const SCHEMA = 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json'
const BODY_MODES = ['raw', 'urlencoded', 'formdata', 'file', 'graphql']

let sdk
try {
  sdk = require('postman-collection')
} catch (e) {
  console.error('postman-collection is not installed: run `npm ci --prefix tools` from the repository root')
  process.exit(2)
}
const { Collection, ItemGroup, Url } = sdk

function usage () {
  console.error(`usage: node ${path.relative(process.cwd(), __filename)} FILE [--expect-tree JSON]`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { file: null, expect: null }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--expect-tree') {
      if (i + 1 >= argv.length) usage()
      try {
        args.expect = JSON.parse(argv[++i])
      } catch (e) {
        console.error(`--expect-tree is not JSON: ${e.message}`)
        process.exit(2)
      }
    } else if (args.file === null) {
      args.file = argv[i]
    } else {
      usage()
    }
  }
  if (args.file === null) usage()
  return args
}

// The tree as the JSON file holds it, in the --expect-tree shape.
function jsonTree (items) {
  return (items || []).map(it => Array.isArray(it.item)
    ? { [it.name]: jsonTree(it.item) }
    : it.name)
}

// The tree as the SDK understood it.
function sdkTree (list) {
  return list.map(it => ItemGroup.isItemGroup(it)
    ? { [it.name]: sdkTree(it.items.all()) }
    : it.name)
}

function printTree (tree, indent) {
  for (const node of tree) {
    if (typeof node === 'string') {
      console.log(`${indent}${node}`)
    } else {
      const [name, children] = Object.entries(node)[0]
      console.log(`${indent}${name}/`)
      printTree(children, indent + '  ')
    }
  }
}

function count (tree) {
  let requests = 0
  let folders = 0
  for (const node of tree) {
    if (typeof node === 'string') {
      requests++
    } else {
      folders++
      const sub = count(Object.values(node)[0])
      requests += sub.requests
      folders += sub.folders
    }
  }
  return { requests, folders }
}

// Checks each request of the JSON against what the SDK made of it.
function checkItems (jsonItems, sdkItems, where, problems) {
  jsonItems.forEach((raw, i) => {
    const at = `${where}[${i}]`
    const item = sdkItems[i]
    if (!item) return // the tree comparison reports it
    if (Array.isArray(raw.item)) {
      if (typeof raw.name !== 'string') problems.push(`${at}.name: a folder needs a name`)
      checkItems(raw.item, ItemGroup.isItemGroup(item) ? item.items.all() : [], `${at}.item`, problems)
      return
    }
    if (typeof raw.name !== 'string') problems.push(`${at}.name: a request needs a name`)
    const req = raw.request
    if (!req || typeof req !== 'object') {
      problems.push(`${at}.request: missing (${raw.name})`)
      return
    }
    if (typeof req.method !== 'string' || !req.method) problems.push(`${at}.request.method: missing`)
    if (!req.url || typeof req.url !== 'object' || typeof req.url.raw !== 'string') {
      problems.push(`${at}.request.url: should be an object with raw and its parts`)
    } else {
      const sent = new Url(req.url).toString()
      if (sent !== req.url.raw) {
        problems.push(`${at}.request.url: the parts give ${JSON.stringify(sent)} but raw is ${JSON.stringify(req.url.raw)}`)
      }
      const reparsed = Url.parse(req.url.raw)
      for (const key of ['protocol', 'host', 'port', 'path', 'query', 'hash']) {
        const want = JSON.stringify(reparsed[key])
        const got = JSON.stringify(req.url[key])
        if (want !== got) problems.push(`${at}.request.url.${key}: ${got}, but Postman parses raw as ${want}`)
      }
    }
    if (item.request.method !== req.method) {
      problems.push(`${at}.request.method: the SDK read ${item.request.method} for ${req.method}`)
    }
    const headers = Array.isArray(req.header) ? req.header.length : 0
    if (item.request.headers.count() !== headers) {
      problems.push(`${at}.request.header: the SDK read ${item.request.headers.count()} of ${headers} headers`)
    }
    if (req.body) {
      if (!BODY_MODES.includes(req.body.mode)) {
        problems.push(`${at}.request.body.mode: ${JSON.stringify(req.body.mode)} is not a Postman body mode`)
      } else if (req.body[req.body.mode] === undefined) {
        problems.push(`${at}.request.body: mode ${req.body.mode} but no ${req.body.mode} field`)
      }
    }
    const responses = Array.isArray(raw.response) ? raw.response : []
    if (item.responses.count() !== responses.length) {
      problems.push(`${at}.response: the SDK read ${item.responses.count()} of ${responses.length} examples`)
    }
    responses.forEach((r, j) => {
      if (!Number.isInteger(r.code)) problems.push(`${at}.response[${j}].code: should be an integer status code`)
      if (!r.originalRequest) problems.push(`${at}.response[${j}].originalRequest: missing`)
    })
  })
}

function main () {
  const args = parseArgs(process.argv.slice(2))
  let json
  try {
    json = JSON.parse(fs.readFileSync(args.file, 'utf8'))
  } catch (e) {
    console.log(`invalid ${args.file}: ${e.code ? 'cannot read' : 'not JSON'}: ${e.message}`)
    return 1
  }
  const problems = []
  if (!json || typeof json !== 'object' || !json.info) {
    problems.push('(document): no info object; not a Postman collection')
  } else if (json.info.schema !== SCHEMA) {
    problems.push(`.info.schema: ${JSON.stringify(json.info.schema)}, expected ${SCHEMA}`)
  }
  if (json && typeof json === 'object' && !Array.isArray(json.item)) problems.push('.item: should be a list')

  let collection
  try {
    collection = new Collection(json)
  } catch (e) {
    problems.push(`(document): the Postman SDK refused it: ${e.message}`)
  }
  let tree = []
  if (collection) {
    tree = sdkTree(collection.items.all())
    const fileTree = jsonTree(json.item)
    if (JSON.stringify(tree) !== JSON.stringify(fileTree)) {
      problems.push(`.item: the SDK sees the tree ${JSON.stringify(tree)} but the file holds ${JSON.stringify(fileTree)}`)
    }
    checkItems(Array.isArray(json.item) ? json.item : [], collection.items.all(), '.item', problems)
  }

  console.log(`${collection ? collection.name : '(unnamed)'}/`)
  printTree(tree, '  ')
  if (problems.length) {
    console.log(`invalid ${args.file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):`)
    for (const p of problems) console.log(`  - ${p}`)
    return 1
  }
  if (args.expect !== null && JSON.stringify(args.expect) !== JSON.stringify(tree)) {
    console.log(`tree mismatch in ${args.file}:`)
    console.log(`  expected: ${JSON.stringify(args.expect)}`)
    console.log(`  actual:   ${JSON.stringify(tree)}`)
    return 1
  }
  const { requests, folders } = count(tree)
  console.log(`ok ${args.file} (${requests} requests in ${folders} folders)`)
  return 0
}

process.exitCode = main()
