"""The one rounding rule of every published figure: a share is computed from the unrounded
counts (or weights), as an exact fraction, and rounded once, half away from zero, to the
places it is published with. A figure is never derived from another rounded figure: a
percentage is 100 * completed / counted rounded to one place, not the rate (already rounded
to four places) times 100 rounded again, which is off by 0.1 when the rate ends in 5.

Python's ``round`` is not used: it rounds half to even, and on a binary float (0.0625 * 100
is exact, 0.0125 * 100 is not) it cannot tell a true half from its neighbours.
"""

from decimal import Decimal
from fractions import Fraction

RATE_PLACES = 4  # completion_rate, 0..1
PERCENT_PLACES = 1  # completion_percent, 0..100

RULE = (
    "computed from the unrounded counts (weights in weighted mode) as an exact fraction and "
    "rounded once, half away from zero"
)


def rate(part: float, whole: float) -> float:
    """``part / whole`` to four places; 0 for an empty whole."""
    return _share(part, whole, scale=1, places=RATE_PLACES)


def percent(part: float, whole: float) -> float:
    """``100 * part / whole`` to one place; 0 for an empty whole."""
    return _share(part, whole, scale=100, places=PERCENT_PLACES)


def _share(part: float, whole: float, *, scale: int, places: int) -> float:
    if not whole:
        return 0.0
    scaled = Fraction(scale * 10**places) * _decimal(part) / _decimal(whole)
    units, remainder = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        units += 1
    signed = -units if scaled < 0 else units
    return float(Fraction(signed, 10**places))


# Sums of weights are binary floats: 0.3 + 0.45 + 0.85 is 1.6000000000000000888. Read to
# nine places they are the decimals that were added (no weight has meaning below that), so
# 0.75 of 1.6 is 46.875 % and rounds up, as a person counting would expect.
_WEIGHT_PLACES = Decimal("1e-9")


def _decimal(value: float) -> Fraction:
    return Fraction(Decimal(repr(value)).quantize(_WEIGHT_PLACES))
