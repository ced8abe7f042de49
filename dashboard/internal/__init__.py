"""The internal dashboard (login required): situation map, anomaly explorer, station drill-down.

Mounted by ``dashboard.server.create_server`` at ``/app/`` through :func:`dashboard.internal.app.create_internal_app`.
Each page owns its layout (``pages/<page>.py``) and callbacks (``pages/<page>_callbacks.py``); ids live
in :mod:`dashboard.internal.ids`.
"""
