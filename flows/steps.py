"""Names of the demo steps (kept free of heavy imports so the CLI starts fast)."""

DEMO_STEPS = ("generate", "ingest", "features", "forecast", "churn", "router")
