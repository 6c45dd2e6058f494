"""CLI command for ingest."""
