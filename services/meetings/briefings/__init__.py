"""A meeting's briefing: the progress of each plan under review as of the meeting's date, and
what changed since the previous meeting of the series, computed from this service's own read
model of plans' events (kept by ``consumers.py``) and frozen as a snapshot once the meeting has
concluded and plans has answered its status reviews."""
