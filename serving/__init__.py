"""The HTTP service of oms-ml (``oms-ml serve``): champions by alias, per-tenant keys.

Build the app with :func:`serving.app.create_app`; it never imports ``pipelines``/``flows``.
"""
