"""Briefing pages: server-rendered HTML that a delegation or secretariat officer opens or
prints, with charts drawn as SVG on the server (no script, nothing from another site).

The pieces every service's pages share: the sign-in exchange that turns a token into an
HttpOnly cookie (``session.py``, decision 34), the Jinja2 environment and the headers of every
page (``rendering.py``), the chart geometry (``charts.py``), completion over time from a journal
(``series.py``) and where each figure comes from (``figures.py``). Each service's own pages are
a ``pages/`` feature folder (``services/plans/pages``, ``services/meetings/pages``).
"""
