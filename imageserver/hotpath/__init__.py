"""The framework-free image path: the responder, its index snapshot and headers."""
