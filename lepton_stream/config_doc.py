"""docs/configuration.md, rendered from `Settings` itself so that it cannot drift.

    python -m lepton_stream.config_doc > docs/configuration.md

One Markdown table per group of settings: a nested dataclass (such as `Topics`)
is a group, and so is each run of fields that config.py opens with a
`# --- Title ---` comment. Each row has the variable, the type (a Literal's
allowed values), the default and the comment written beside the field.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from lepton_stream.config import REPO_ROOT, Settings

_MARKER = re.compile(r"^#\s*-{3,}\s*(.*?)\s*-*\s*$")
# A group class may name its own prefix in its docstring, as `Topics` does: LEPTON_TOPIC_<NAME>.
_PREFIX = re.compile(r"\b(LEPTON_\w*?)<NAME>")


@dataclass(frozen=True)
class Row:
    variable: str
    kind: str
    default: str
    comment: str


@dataclass
class Group:
    title: str
    about: str = ""
    rows: list[Row] = dataclasses.field(default_factory=list)


def _comments(cls: type) -> tuple[dict[str, str], dict[str, str]]:
    """Per field: the comment beside or above it, and the `# --- Title ---` marker
    that opens the run of fields it belongs to (a marker is not a field's comment)."""
    source = inspect.getsource(cls)
    by_line = {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
               if tok.type == tokenize.COMMENT}
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    comment: dict[str, str] = {}
    section: dict[str, str] = {}
    current = ""
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        # Comment-only lines directly above the field, up to a blank line or code.
        while line >= 1 and line in by_line and lines[line - 1].strip().startswith("#"):
            above.insert(0, by_line[line])
            line -= 1
        text: list[str] = []
        for c in above:
            marker = _MARKER.match(c)
            if marker:
                current = "" if marker.group(1).lower().startswith("end of") else marker.group(1).rstrip(" .-")
                text = []
            else:
                text.append(c.lstrip("#").strip())
        end = node.end_lineno or node.lineno
        if end in by_line:
            text.append(by_line[end].lstrip("#").strip())
        comment[node.target.id] = " ".join(text)
        section[node.target.id] = current
    return comment, section


def _kind(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(hint))
    return getattr(hint, "__name__", str(hint))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _shown(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if isinstance(value, Path):
        # Relative to the checkout, so that the page is the same in every clone.
        try:
            return f"`{value.relative_to(REPO_ROOT)}`"
        except ValueError:
            return f"`{value}`"
    if value == "":
        return '`""` (empty)'
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(cls: type, prefix: str) -> tuple[list[tuple[str, Row]], list[tuple[dataclasses.Field[Any], type]]]:
    """The plain fields of `cls` as (section, row), and its fields that are groups themselves."""
    hints = get_type_hints(cls)
    comment, section = _comments(cls)
    rows: list[tuple[str, Row]] = []
    nested: list[tuple[dataclasses.Field[Any], type]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            nested.append((f, hint))
            continue
        row = Row(f"`{prefix}{f.name.upper()}`", _kind(hint), _shown(_default(f)), _cell(comment.get(f.name, "")))
        rows.append((section.get(f.name, ""), row))
    return rows, nested


def _doc(cls: type) -> str:
    """The class's own docstring; not the signature dataclass writes when there is none."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return "" if doc.startswith(cls.__name__ + "(") else doc


def _prefix(cls: type) -> str:
    found = _PREFIX.search(_doc(cls))
    return found.group(1) if found else "LEPTON_"


def _about(cls: type) -> str:
    """The first paragraph of a group's docstring, variable patterns in code style."""
    first = _doc(cls).split("\n\n")[0]
    return re.sub(r"(LEPTON_\w*<NAME>)", r"`\1`", " ".join(first.split()))


def groups(cls: type = Settings, prefix: str = "LEPTON_", title: str = "General") -> list[Group]:
    rows, nested = _rows(cls, prefix)
    out: list[Group] = []
    for section, row in rows:
        name = section or title
        if not out or out[-1].title != name:
            out.append(Group(name, _about(cls) if name == title else ""))
        out[-1].rows.append(row)
    for f, group_cls in nested:
        out += groups(group_cls, _prefix(group_cls), f.name.replace("_", " ").capitalize())
    return out


def render() -> str:
    parts = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m lepton_stream.config_doc > docs/configuration.md`"
        " from `lepton_stream/config.py`; tests/unit/test_config_doc.py keeps them equal. -->",
        "",
        "Every process reads one `lepton_stream.config.Settings` from `LEPTON_*` environment",
        "variables (`Settings.from_env()`) and hands the same view to its children",
        "(`Settings.to_env()`). A value that cannot be used (a choice not in its list, a bad",
        "number) stops the command with one line naming the variable, the value and what is",
        "allowed. Paths are relative to the repository. Security settings are explained in",
        "[security.md](security.md).",
    ]
    for group in groups():
        parts += ["", f"## {group.title}", ""] + ([group.about, ""] if group.about else [])
        parts += ["| variable | type | default | what it is for |",
                  "| --- | --- | --- | --- |"]
        parts += [f"| {r.variable} | {r.kind} | {r.default} | {r.comment} |" for r in group.rows]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
