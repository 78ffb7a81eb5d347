"""The briefing page of a meeting (``shared/pages`` has what the pages share)."""
