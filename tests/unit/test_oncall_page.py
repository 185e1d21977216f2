"""The alert monitor's snapshot, its HTML page (escaped, no scripts) and its response headers."""

import asyncio
import tomllib
from html.parser import HTMLParser

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from lepton_stream.config import REPO_ROOT, Oncall
from lepton_stream.oncall.records import MAX_ID_CHARS
from lepton_stream.oncall.rule_hits import RuleSeen, rule_rows
from lepton_stream.oncall.snapshot import build_snapshot, render_html
from lepton_stream.oncall.web import CONTENT_SECURITY_POLICY, security_headers

HOSTILE = ["<script>alert('pm')</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='alert(2)"]
NOW = 29_333_333  # an epoch minute


class Tags(HTMLParser):
    """Every start tag and attribute of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def _snapshot(pipeline: dict, terminal: str = "T1", merchant: str = "M1", summary: str = "p99 over") -> dict:
    return build_snapshot(NOW, [(f"{NOW}|high|0", 4), (f"{NOW - 1}|low|1", 2)], [(f"{NOW}|{terminal}|0", 4)],
                          [(f"{NOW}|{merchant}|1", 4)], {NOW: [0] * 9 + [4]}, pipeline,
                          [{"kind": "latency_slo", "minute": NOW, "summary": summary, "evidence": {}}])


def test_the_page_shows_the_tables():
    snap = _snapshot({"t1": {"task_id": "scoring/h/1", "events_in": 120, "scored": 118, "alerts": 4, "dlq": 2,
                             "p99_ms": 42.4, "lag_total": 7, "lag": {"transactions/0": 7}}})
    page = render_html(snap)
    tags = parsed(page)
    assert ("meta", [("http-equiv", "refresh"), ("content", "5")]) in tags.tags
    assert "T1" in tags.text and "M1" in tags.text and "latency_slo" in tags.text
    assert [t for t in tags.text if t in ("scoring/h/1", "120", "118", "42", "7")] == [
        "scoring/h/1", "120", "118", "42", "7"]
    widths = [dict(a)["style"] for t, a in tags.tags if t == "span"]
    assert "width:200px;background:#d62728" in widths and "width:0px;background:#ff7f0e" in widths


def test_hostile_strings_are_text_and_non_numbers_are_a_question_mark():
    for bad in HOSTILE:
        # What an older monitor wrote to its tasks table, unchecked: the page still escapes it.
        snap = _snapshot({bad: {"task_id": bad, "events_in": bad, "scored": [1], "alerts": {"a": 1}, "dlq": None,
                                "p99_ms": bad, "lag_total": bad, "lag": bad}}, terminal=bad, merchant=bad,
                         summary=bad)
        page = render_html(snap)
        tags = parsed(page)
        assert {t for t, _ in tags.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "table",
                                             "tr", "th", "td", "div", "span", "p", "a"}
        assert not [name for _, attrs in tags.tags for name, _ in attrs if name.startswith("on")]
        assert "<script" not in page and "<img" not in page
        assert tags.text.count(bad) == 4  # task, terminal, merchant, page summary: shown as they are, as text
        row = snap["pipeline"][0]
        assert (row["events_in"], row["scored"], row["alerts"], row["dlq"], row["lag"]) == ("?", "?", "?", None, {})
        assert "?" in tags.text and "-" in tags.text


def test_long_ids_from_the_tables_are_cut():
    snap = _snapshot({"t": {"task_id": "t" * 5000}}, terminal="T" * 5000, merchant="M" * 5000)
    assert len(snap["pipeline"][0]["task_id"]) == MAX_ID_CHARS
    assert len(snap["top_terminals"][0]["terminal_id"]) == MAX_ID_CHARS
    assert len(snap["top_merchants"][0]["merchant_id"]) == MAX_ID_CHARS
    assert "T" * (MAX_ID_CHARS + 1) not in render_html(snap)


def test_the_page_shows_the_rules_table_and_a_spiking_rule_stands_out():
    rules = {"big-ecom": RuleSeen("big-ecom", 3, "alert", "high", NOW - 100, NOW),
             "allow-payroll": RuleSeen("allow-payroll", 1, "suppress", None, NOW - 100, NOW)}
    hits = {"big-ecom": {NOW - 1: 70, NOW: 90}, "allow-payroll": {m: 4 for m in range(NOW - 70, NOW + 1)}}
    snap = build_snapshot(NOW, [], [], [], {}, {}, [], rules=rule_rows(NOW, rules, hits, Oncall()))
    assert [(r["id"], r["state"], r["hits_window"]) for r in snap["rules"]] == [("big-ecom", "spike", 160),
                                                                                ("allow-payroll", "ok", 20)]
    tags = parsed(render_html(snap))
    rows = [i for i, (t, attrs) in enumerate(tags.tags) if t == "tr" and ("class", "page") in attrs]
    assert len(rows) == 1  # the spiking rule's row, in the page colour
    text = [t for t in tags.text if t.strip()]
    i = text.index("big-ecom")
    assert text[i:i + 9] == ["big-ecom", "3", "alert", "high", "70", "160", "160", "0.0", "spike"]
    j = text.index("allow-payroll")
    assert text[j:j + 9] == ["allow-payroll", "1", "suppress", "-", "4", "240", "20", "4.0", "ok"]
    assert "no live rule reported" in render_html(_snapshot({}))


def test_hostile_rule_ids_in_the_tables_are_text():
    rules = {bad: RuleSeen(bad, 1, bad, bad, NOW - 1, NOW) for bad in HOSTILE}
    page = render_html(build_snapshot(NOW, [], [], [], {}, {}, [], rules=rule_rows(NOW, rules, {}, Oncall())))
    assert "<script" not in page and "<img" not in page
    assert all(parsed(page).text.count(bad) == 3 for bad in HOSTILE)  # id, action, severity: as text


def test_every_response_gets_the_security_headers():
    async def ok(request):
        return web.Response(text="{}", content_type="application/json")

    async def missing(request):
        raise web.HTTPNotFound()

    async def run(handler):
        try:
            return await security_headers(make_mocked_request("GET", "/ui"), handler)
        except web.HTTPException as exc:
            return exc

    for handler in (ok, missing):
        resp = asyncio.run(run(handler))
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "script-src" not in CONTENT_SECURITY_POLICY


def test_the_template_is_packaged():
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = REPO_ROOT / "lepton_stream" / "oncall"
    shipped = {p for pattern in data["lepton_stream.oncall"] for p in package.glob(pattern)}
    assert package / "templates" / "oncall.html" in shipped
    assert shipped == {p for p in (package / "templates").iterdir() if p.is_file()} != set()
