"""Webhooks: endpoints (SSRF-checked, signed with rotating secrets), the deliveries of events
to them, the dispatcher that sends those deliveries, and the health of each endpoint."""
