"""The operations dashboard (``oms-ml dashboard``), one set of pages per tenant.

A Streamlit app over the lake, the batch outputs and the MLflow registry.

The data functions (``dashboard.data``, ``operations``, ``forecasts``, ``customers``,
``models_view``, ``routing``, ``monitoring``) are plain pandas functions a test calls without
a browser; ``dashboard.app`` is the thin Streamlit page code; ``dashboard.server`` starts it.
"""
