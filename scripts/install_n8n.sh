#!/usr/bin/env bash
# Real n8n for tests/test_examples_n8n.py (issue 25): installed once per machine into a cache
# folder that outlives the clone (a cold install compiles sqlite3 from source: about 8 minutes),
# reinstalled only when it is missing or the pins below changed. Prints the n8n binary's path.
# n8n 1.123 needs Node >= 20.19 (bookworm's nodejs is 18; the machines here have Node 20).
set -euo pipefail

node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || { echo "n8n needs Node >= 20.19, found $(node --version)" >&2; exit 1; }

N8N_VERSION=1.123.5
# n8n pins xlsx to a tarball on a host CI cannot reach; 0.18.5 is on the npm registry.
XLSX_VERSION=0.18.5
N8N_CACHE_DIR="${N8N_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageserver-n8n}"

manifest="$(printf '{"name":"imageserver-n8n-cache","private":true,"dependencies":{"n8n":"%s"},"overrides":{"xlsx":"%s"}}' \
  "$N8N_VERSION" "$XLSX_VERSION")"
mkdir -p "$N8N_CACHE_DIR"
# Two CI runs on one machine must not install into the same folder at once.
exec 9>"$N8N_CACHE_DIR/.lock"
flock 9
# The stamp is written only after a complete install, so an interrupted one is redone.
if [ ! -x "$N8N_CACHE_DIR/node_modules/.bin/n8n" ] \
  || [ "$(cat "$N8N_CACHE_DIR/.installed" 2>/dev/null || true)" != "$manifest" ]; then
  rm -f "$N8N_CACHE_DIR/.installed"
  printf '%s\n' "$manifest" >"$N8N_CACHE_DIR/package.json"
  (cd "$N8N_CACHE_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
  printf '%s' "$manifest" >"$N8N_CACHE_DIR/.installed"
fi
exec 9>&-
echo "$N8N_CACHE_DIR/node_modules/.bin/n8n"
