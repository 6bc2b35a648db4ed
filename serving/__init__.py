"""What serves the page around the widgets: the app's factory (factory.py), the page's static files
(static_assets.py), /metrics (metrics.py) and the warm-up before gunicorn forks (warm_up.py)."""
