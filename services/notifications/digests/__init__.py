"""Digests: events held for a delegation's daily digest or its digest before a meeting, sent
as one inbox entry when due."""
