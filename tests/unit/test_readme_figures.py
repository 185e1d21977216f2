"""The README's headline figures are the ones their programs wrote: no figure is
kept by hand beside the file it comes from."""

import json
import re
from decimal import Decimal

from lepton_stream.config import REPO_ROOT

README = REPO_ROOT / "README.md"
# | what | 8,840 | [pipeline.json](benchmarks/results/pipeline.json) → `saturation.head_to_head.flink_median` |
_ROW = re.compile(r"^\|[^|]*\|\s*(?P<value>[\d,.]+)\s*\|"
                  r"\s*\[[^\]]*\]\((?P<file>[^)]+\.json)\)\s*→\s*`(?P<key>[^`]+)`\s*\|$")


def _headline_rows() -> list[re.Match[str]]:
    text = README.read_text()
    section = text.split("## Headline figures", 1)[1].split("\n## ", 1)[0]
    return [m for line in section.splitlines() if (m := _ROW.match(line.strip()))]


def _lookup(data: object, key: str) -> object:
    """`a.b[0].c` into parsed JSON."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]  # type: ignore[index]
    return data


def test_the_headline_table_has_its_rows():
    rows = _headline_rows()
    table = [line for line in README.read_text().split("## Headline figures", 1)[1].split("\n## ", 1)[0].splitlines()
             if line.startswith("| ") and not line.startswith("| figure") and not line.startswith("| ---")]
    assert len(rows) == len(table) >= 8, "a row of the headline table does not name its file and key"
    assert {m["key"] for m in rows} >= {
        "saturation.head_to_head.flink_median", "saturation.floor.flink_median", "saturation.floor.loop_median",
        "redis_cpu.redis_cpu_us_per_transaction", "redis_memory.bytes_per_active_card"}


def test_each_headline_figure_equals_the_value_its_file_holds():
    wrong = []
    for m in _headline_rows():
        shown = Decimal(m["value"].replace(",", ""))
        actual = _lookup(json.loads((REPO_ROOT / m["file"]).read_text()), m["key"])
        assert isinstance(actual, int | float), f"{m['key']} in {m['file']} is not a number: {actual!r}"
        # Equal to the digits shown: 140 for 140.0, 60.1 for 60.1, not 60 for 60.4.
        half_step = Decimal(1).scaleb(shown.as_tuple().exponent) / 2  # type: ignore[arg-type]
        if abs(Decimal(str(actual)) - shown) >= half_step:
            wrong.append(f"{m['key']}: README {m['value']}, {m['file']} {actual}")
    assert not wrong, "README figures differ from their source:\n" + "\n".join(wrong)
