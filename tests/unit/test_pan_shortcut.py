"""`has_card_number` and `has_digit_run` skip the run scan for text with fewer than
13 digits, and the full check of each run with fewer than 13: the shortcuts must
never change an answer."""

import random

from lepton_stream.schemas import pan


def _scan_card_number(text: str) -> bool:
    return any(pan._is_pan(m.group()) for m in pan._RUN.finditer(text))


def _digits(run: str) -> str:
    return "".join(ch for ch in run if ch.isdigit())


def _scan_digit_run(text: str) -> bool:
    return any(len(_digits(m.group())) >= 13 for m in pan._RUN.finditer(text.replace("\x00", "")))


def test_the_digit_count_shortcut_agrees_with_the_full_scan():
    rng = random.Random(20261206)
    # Digit-heavy text with every separator the scan knows, so that many strings sit
    # on either side of 13 digits and some hold Luhn-valid runs.
    alphabet = "0123456789" * 3 + " -\x00ab_é"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(20_000)]
    texts += ["4020 0883 2820 8957", "card-402008832820895", "1765000000000", "40200883282089",
              "\udc80 4020088328208957"]
    wrong = [t for t in texts if pan.has_card_number(t) != _scan_card_number(t)
             or pan.has_digit_run(t) != _scan_digit_run(t)
             or any(pan._is_pan_in_text(r) != (pan._is_pan(r) or len(_digits(r)) > 19)
                    for r in (m.group() for m in pan._RUN.finditer(t)))]
    assert not wrong, wrong[:5]
    assert sum(map(_scan_card_number, texts)) > 100  # the sample really reaches the scan's answers
