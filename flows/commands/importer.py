"""CLI commands for importer."""
