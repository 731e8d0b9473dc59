"""The Flask app: factory, blueprints, OpenAPI, the error shape, JSON in and out."""
