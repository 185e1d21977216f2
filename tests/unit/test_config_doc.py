"""docs/configuration.md is rendered from `Settings`: it says what the code reads."""

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.config_doc import render

PAGE = REPO_ROOT / "docs" / "configuration.md"


def test_the_page_is_the_rendering_of_settings():
    assert PAGE.read_text() == render(), (
        "docs/configuration.md is stale: python -m lepton_stream.config_doc > docs/configuration.md")


def test_every_variable_settings_reads_has_its_row():
    rows = {line.split("|")[1].strip().strip("`") for line in render().splitlines() if line.startswith("| `")}
    assert rows == set(Settings().to_env())


def test_fixed_choices_list_their_values_and_comments_are_taken_from_the_source():
    page = render()
    assert "| `LEPTON_DELIVERY_GUARANTEE` | `exactly-once` \\| `at-least-once` \\| `none` | `exactly-once` |" in page
    assert "how often each task writes to `pipeline-metrics`" in page
    assert "| `LEPTON_TOPIC_RISK_ALERTS` | str | `risk-alerts` |" in page
