"""The OpenAPI document served at /openapi.json and its schemas."""
