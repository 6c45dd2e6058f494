"""CLI commands for forecast."""
