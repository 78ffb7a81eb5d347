"""The briefing page of a plan's progress (``shared/pages`` has what the pages share)."""
