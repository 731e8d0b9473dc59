"""MCP for the image server (docs/MCP.md): the tools over its HTTP API, stdio and `/mcp`.

Modules: `client` (the HTTP control API), `tools` (schemas and handlers), `server` (the SDK
server), `stdio` (`imageserver mcp`), `mount` (`/mcp` in the ASGI app). Importing this
package imports nothing of the MCP SDK: `/mcp` loads it on first use.
"""

from __future__ import annotations
