"""Detector families, one module each; every detector registers itself by name (analytics.registry)."""
