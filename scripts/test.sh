#!/usr/bin/env bash
# Runs every check a change must pass, on a fresh machine: installs the Node
# tools the export tests use (from the lockfile), then format, lints, and the
# whole test suite (unit, integration, end-to-end with real clients).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test tools (npm ci --prefix tools)"
npm ci --prefix tools --no-audit --no-fund --loglevel=error

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
