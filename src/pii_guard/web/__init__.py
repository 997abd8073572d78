"""The web console: server-rendered pages (Starlette + Jinja2, htmx for progressive enhancement) over the
incidents, the event store, the review reports and the daemon's health. `app.create_app` builds it; nothing
happens at import time."""
