"""Events published by the notifications service on ``accord.notifications.events``."""

SOURCE = "/accord/notifications"
