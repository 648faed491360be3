#!/usr/bin/env node
// Validates HAR files against the HAR 1.2 JSON schemas of har-validator.
//
//   node tools/validate-har.js FILE...
//
// Prints `ok FILE (N entries)` for each valid file, or the file followed by
// one line per problem (where in the document, and what is wrong). Exits 1
// when any file is invalid or unreadable, 2 on bad usage.
//
// har-schema writes `min` where JSON Schema means `minimum`, so the schema
// never checks timing ranges; the spec's rules for them are checked here
// after the schema passes, and reported the same way.
'use strict'

const fs = require('fs')
const path = require('path')

let validator
try {
  validator = require('har-validator')
} catch (e) {
  console.error('har-validator is not installed: run `npm ci --prefix tools` from the repository root')
  process.exit(2)
}

function describeSchemaError (err) {
  const where = err.dataPath || '(document)'
  let detail = ''
  if (err.keyword === 'additionalProperties') detail = ` (${err.params.additionalProperty})`
  if (err.keyword === 'enum') detail = ` (${err.params.allowedValues.join(', ')})`
  return `${where}: ${err.message}${detail}`
}

// HAR 1.2: send, wait and receive are required non-negative numbers; the
// other phases are -1 when they do not apply; ssl is part of connect.
function timingProblems (har) {
  const problems = []
  const entries = (har && har.log && Array.isArray(har.log.entries)) ? har.log.entries : []
  entries.forEach((entry, i) => {
    const t = entry && entry.timings
    if (!t || typeof t !== 'object') return
    const at = `.log.entries[${i}].timings`
    for (const k of ['send', 'wait', 'receive']) {
      if (typeof t[k] === 'number' && t[k] < 0) problems.push(`${at}.${k}: should be >= 0 (HAR 1.2 does not allow -1 here)`)
    }
    for (const k of ['blocked', 'dns', 'connect', 'ssl']) {
      if (typeof t[k] === 'number' && t[k] < -1) problems.push(`${at}.${k}: should be -1 or >= 0`)
    }
    if (typeof t.ssl === 'number' && t.ssl >= 0 && typeof t.connect === 'number' && t.connect < t.ssl) {
      problems.push(`${at}.connect: should include ssl (${t.connect} < ${t.ssl})`)
    }
    if (typeof entry.time === 'number' && entry.time < 0) {
      problems.push(`.log.entries[${i}].time: should be >= 0`)
    }
  })
  return problems
}

async function validateFile (file) {
  let har
  try {
    har = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    return [e.code ? `cannot read: ${e.message}` : `not JSON: ${e.message}`]
  }
  try {
    await validator.har(har)
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e
    return e.errors.map(describeSchemaError)
  }
  const problems = timingProblems(har)
  if (problems.length) return problems
  console.log(`ok ${file} (${har.log.entries.length} entries)`)
  return []
}

async function main (files) {
  if (files.length === 0) {
    console.error(`usage: node ${path.relative(process.cwd(), __filename)} FILE...`)
    return 2
  }
  let failed = 0
  for (const file of files) {
    const problems = await validateFile(file)
    if (problems.length) {
      failed++
      console.log(`invalid ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):`)
      for (const p of problems) console.log(`  - ${p}`)
    }
  }
  if (failed) console.log(`${failed} of ${files.length} file(s) failed HAR 1.2 validation`)
  return failed ? 1 : 0
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  err => { console.error(err && err.stack ? err.stack : err); process.exitCode = 1 }
)
