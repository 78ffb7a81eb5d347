"""A meeting's statement and press release drafts: rendered from a template with the figures
of the meeting's frozen snapshot, each figure a marker in the editable text and linked to the
figure plans published for the meeting (docs/decisions/0032)."""
