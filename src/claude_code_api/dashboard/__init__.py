"""The web dashboard's static files (HTML, JS, CSS and the vendored Chart.js).

Served by ``api/routes/dashboard.py`` at ``/dashboard``; see ``docs/DASHBOARD.md``.
"""

from pathlib import Path

#: The directory served at ``/dashboard/static`` (``index.html`` is served at ``/dashboard``).
STATIC_DIR = Path(__file__).parent / "static"
