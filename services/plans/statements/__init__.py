"""The statement checker: find the figure claims of a text, check each for internal
consistency and, when the text names a plan and a date, against the plan's figures as of
that date (docs/decisions/0033)."""
