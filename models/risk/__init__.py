"""Order risk and after-sales model families: support triage, abnormal orders, refunds."""
