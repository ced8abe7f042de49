"""Public read-only embeds (/embed/): a separate Dash app with its own callbacks and queries.

Nothing here may import from ``dashboard.internal``: the public app must not know internal ids.
"""
