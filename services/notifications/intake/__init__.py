"""The intake: plans' and meetings' events taken in, projected into read models, matched
against subscriptions and fanned out to inboxes, streams, webhook deliveries and digests."""
