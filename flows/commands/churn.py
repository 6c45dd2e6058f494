"""CLI commands for churn."""
