"""CLI commands for features."""
