"""Headers every image answer carries, whoever answers it (the native path or Flask).

Kept free of any framework so the native image path can import it without pulling Flask in.
"""

from __future__ import annotations

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, ETag, Last-Modified",
}

# Sent with every image 200/206/304, in this order, after the per-file headers.
FIXED_IMAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Accept-Ranges", "bytes"),
    ("X-Content-Type-Options", "nosniff"),
    *CORS_HEADERS.items(),
)
