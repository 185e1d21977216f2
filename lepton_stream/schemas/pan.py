"""Card numbers (PANs) in free text: found, checked and masked before anything leaves the job.

A PAN is 13 to 19 digits, written bare or in groups joined by spaces or
dashes (`4020 0883 2820 8957`, `4020-0883-2820-8957`), and starts with 1 to 6.
A run counts only when it passes the Luhn check, so epoch-millisecond
timestamps and other long numbers stay readable (they start with 1 and have 13
digits, which no card has; other numbers fail Luhn nine times in ten). An identifier that must be a token (`card_id`) is
stricter: any such run makes it a card number, Luhn or not.
"""

from __future__ import annotations

import re

# A maximal run of digits, each joined to the next by at most two separators
# (space, dash, or NUL: ASCII text in UTF-16 is valid UTF-8 with a NUL beside each digit).
_SEP = "[ \\-\\x00]{0,2}"
_RUN = re.compile(f"(?<![0-9])[0-9](?:{_SEP}[0-9])*(?![0-9])")
_RUN_BYTES = re.compile(f"(?<![0-9])[0-9](?:{_SEP}[0-9])*(?![0-9])".encode())
_MIN_RUN = 13  # the fewest digits a card number has


def _too_few_digits(text: str) -> bool:
    # Every identifier of every event is checked: most have a handful of digits, and
    # counting them is far cheaper than finding the runs.
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, b"0123456789")) < _MIN_RUN


def _run_digits(run: str) -> int:
    # A run is digits and separators: what is not a separator is a digit. A run of fewer
    # than _MIN_RUN digits holds no card number, however its groups are read; ids such as
    # `t12-sim0-000000042` have many such runs, and this spares each the full check.
    return len(run) - run.count(" ") - run.count("-") - run.count("\x00")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _pan_shaped(d: str) -> bool:
    # Card networks issue numbers starting with 1 to 6 (UATP, Amex, Visa, Mastercard,
    # Discover, UnionPay...); 13-digit epoch milliseconds (2001..2286) start with 1,
    # and no network gives out 13-digit numbers there.
    return (_MIN_RUN <= len(d) <= 19 and d[0] in "123456" and luhn_valid(d)
            and not (len(d) == 13 and d[0] == "1"))


def _groups(run: str) -> list[str]:
    # NULs are not group separators: they only interleave the digits of UTF-16 text.
    return [g for g in re.split(r"[ -]+", run.replace("\x00", "")) if g]


def _is_pan(run: str) -> bool:
    """A run that is, or may hide, a card number: Luhn-valid as a whole group, or as a
    span of groups written the way cards are (3 to 6 digits each: `4020 0883 2820
    8957`, `3782 822463 10005`), which also finds one with digits glued on by a
    separator (a 16-digit number, then `-12`)."""
    groups = _groups(run)
    for i, g in enumerate(groups):
        if _pan_shaped(g):
            return True
        span = ""
        for h in groups[i:]:
            if not 3 <= len(h) <= 6:
                break
            span += h
            if _pan_shaped(span):
                return True
    return False


def _is_pan_in_text(run: str) -> bool:
    """In free text, a run over 19 digits is masked too: it is never a timestamp or an
    amount, and may be a card number with digits glued on."""
    return _run_digits(run) >= _MIN_RUN and (_is_pan(run) or _run_digits(run) > 19)


def _mask_run(run: str) -> str:
    """Every digit but the last four becomes '*'; separators are kept."""
    keep = 4
    out = []
    for ch in reversed(run):
        if ch.isdigit():
            out.append(ch if keep > 0 else "*")
            keep -= 1
        else:
            out.append(ch)
    return "".join(reversed(out))


def mask_card_numbers(text: str) -> str:
    """`text` with each card number masked to its last four digits."""
    return _RUN.sub(lambda m: _mask_run(m.group()) if _is_pan_in_text(m.group()) else m.group(), text)


def mask_card_numbers_bytes(data: bytes) -> bytes:
    """The same on bytes (ASCII digits), for payloads that are not UTF-8."""
    def sub(m: re.Match[bytes]) -> bytes:
        run = m.group().decode("latin-1")
        return _mask_run(run).encode("latin-1") if _is_pan_in_text(run) else m.group()
    return _RUN_BYTES.sub(sub, data)


def has_card_number(text: str) -> bool:
    """A card number anywhere in `text` (Luhn-valid, as written on cards)."""
    if _too_few_digits(text):
        return False
    return any(_run_digits(run := m.group()) >= _MIN_RUN and _is_pan(run) for m in _RUN.finditer(text))


def has_digit_run(text: str) -> bool:
    """Any run of 13 or more digits, Luhn or not: for fields that must be tokens."""
    if _too_few_digits(text):
        return False
    return any(_run_digits(m.group()) >= _MIN_RUN for m in _RUN.finditer(text.replace("\x00", "")))
