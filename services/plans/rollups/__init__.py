"""Rollups: the progress of a plan per section, tag and lead, under versioned counting rules.

``domain`` is the arithmetic (counters, rules, figures, health); ``projection`` keeps the
read model current from the plans service's own line events; ``views`` reads it (or
recounts from the journal) and checks it against a fresh recount; ``handlers`` adds counting
rules; ``replay`` rebuilds the read model from the topic; ``cli`` holds the operator commands.
"""
