"""CLI commands for generate."""
