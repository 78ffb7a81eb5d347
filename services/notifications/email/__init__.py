"""Email as a channel: the delegation's contacts, messages rendered from templates, and their
delivery over SMTP by the same rules as webhooks (leases, the retry schedule, per-subject
order)."""
