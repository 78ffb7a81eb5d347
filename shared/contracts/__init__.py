"""Public event contracts: the only interface between services.

Importing this package registers every contract, so a consumer can validate any event.
"""

from shared.contracts import meetings, notifications, plans

__all__ = ["meetings", "notifications", "plans"]
