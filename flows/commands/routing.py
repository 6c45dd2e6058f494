"""CLI commands for routing."""
