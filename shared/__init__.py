"""Accord's common kernel: settings, database, events, outbox, consumer, auth, errors."""
