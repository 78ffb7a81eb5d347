"""Numbers as statements write them: digits ("97", "1,000", "94.2") or words ("ninety-seven",
"one hundred and three", "a hundred"), up to 999 in words."""

import re

_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip


def _alternatives(words: dict[str, int]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_BELOW_100 = (
    rf"(?:(?:{_alternatives(_TENS)})(?:[- ](?:{_alternatives(_UNITS)}))?"
    rf"|{_alternatives(_TEENS)}|{_alternatives(_UNITS)}|zero)"
)
WORDS = rf"(?:(?:a|{_alternatives(_UNITS)})\s+hundred(?:(?:\s+and)?\s+{_BELOW_100})?|{_BELOW_100})"
DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# A number in a claim, bounded so that "2016-2020" or "v2" gives no number inside a word.
NUMBER = rf"(?<![\w.,-])(?:{DIGITS}|{WORDS})(?![\w]|-\d)"


def value(text: str) -> float:
    """The value of a number matched by ``NUMBER``."""
    cleaned = text.strip().lower()
    if re.fullmatch(DIGITS, cleaned):
        return float(cleaned.replace(",", ""))
    total = 0
    words = re.split(r"[\s-]+", cleaned)
    if "hundred" in words:
        at = words.index("hundred")
        total = 100 * (1 if words[0] == "a" else _UNITS[words[0]])
        words = [w for w in words[at + 1 :] if w != "and"]
    for word in words:
        total += _UNITS.get(word) or _TEENS.get(word) or _TENS.get(word) or 0
    return float(total)


def places(text: str) -> int:
    """Decimal places a number is written with ("94.2" -> 1, "ninety-four" -> 0)."""
    digits = text.strip()
    return len(digits.split(".", 1)[1]) if re.fullmatch(DIGITS, digits) and "." in digits else 0
