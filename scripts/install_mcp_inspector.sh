#!/usr/bin/env bash
# The MCP Inspector's CLI for tests/test_mcp_inspector.py (issue 30): installed once per machine
# into a cache folder that outlives the clone, reinstalled only when it is missing or the pin
# below changed. Prints the path of the `mcp-inspector` binary.
# 2.12.0 is the newest release. It declares Node >= 22.19, but its CLI runs on the Node 20
# of these machines (npm only warns; the test proves it on every run). 0.15.0, the last
# release without that declaration, has no --header option, so it cannot reach a locked /mcp.
set -euo pipefail

INSPECTOR_VERSION=2.12.0
INSPECTOR_CACHE_DIR="${MCP_INSPECTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imageserver-mcp-inspector}"

manifest="$(printf '{"name":"imageserver-mcp-inspector-cache","private":true,"dependencies":{"@modelcontextprotocol/inspector":"%s"}}' \
  "$INSPECTOR_VERSION")"
mkdir -p "$INSPECTOR_CACHE_DIR"
# Two CI runs on one machine must not install into the same folder at once.
exec 9>"$INSPECTOR_CACHE_DIR/.lock"
flock 9
# The stamp is written only after a complete install, so an interrupted one is redone.
if [ ! -x "$INSPECTOR_CACHE_DIR/node_modules/.bin/mcp-inspector" ] \
  || [ "$(cat "$INSPECTOR_CACHE_DIR/.installed" 2>/dev/null || true)" != "$manifest" ]; then
  rm -f "$INSPECTOR_CACHE_DIR/.installed"
  printf '%s\n' "$manifest" >"$INSPECTOR_CACHE_DIR/package.json"
  (cd "$INSPECTOR_CACHE_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
  printf '%s' "$manifest" >"$INSPECTOR_CACHE_DIR/.installed"
fi
exec 9>&-
echo "$INSPECTOR_CACHE_DIR/node_modules/.bin/mcp-inspector"
