"""Published figures: every figure that leaves the system is kept with what it was derived
from (plan, scope, counting rule version, as-of day, journal position), and can be derived
again at any time to show it still holds or which later events changed it
(docs/decisions/0032)."""
