"""docs/configuration.md's tables, generated from the declaration: ``python -m lead_scoring.settings.doc``.

The page's prose stays as written; the part between the two markers is replaced. ``--check`` writes
nothing and exits 1 when the page differs from what the declaration generates (``make docs`` writes it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import typing
from pathlib import Path

from pydantic.fields import FieldInfo

from lead_scoring.settings.declaration import Declaration
from lead_scoring.settings.elsewhere import ELSEWHERE
from lead_scoring.settings.rules import PATHS, folder_setting, range_rule, variable

BEGIN = "<!-- settings: generated from lead_scoring/settings/declaration.py by `make docs`; edit there -->"
END = "<!-- settings: end of the generated part -->"
DOC = Path("docs") / "configuration.md"
log = logging.getLogger(__name__)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _kind(name: str, field: FieldInfo) -> str:
    hint = field.annotation
    if typing.get_origin(hint) is typing.Literal:
        return " or ".join(f"`{value}`" for value in typing.get_args(hint))
    if name in PATHS:
        return "URL" if name in ("db_url", "tracking_uri") else "folder" if folder_setting(name) else "file"
    kinds: dict[object, str] = {int: "integer", float: "number", str: "text"}
    return kinds.get(hint, str(hint))


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.default
    if value == "":
        return "empty"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _allowed(name: str, field: FieldInfo) -> str:
    if typing.get_origin(field.annotation) is typing.Literal:
        return "one of those"
    longest = next((m.max_length for m in field.metadata if getattr(m, "max_length", None)), None)
    if longest:
        return f"1 to {longest} printable characters"
    rule = range_rule(Declaration, name)  # "" without bounds: the description says what the value must be
    return rule.replace("must not be", "not", 1).removeprefix("must be ")


def tables() -> str:
    """The generated part: every setting, then the variables read elsewhere."""
    lines = [
        BEGIN,
        "",
        "| variable | type | default | allowed | what |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in Declaration.model_fields.items():
        cells = (
            f"`{variable(Declaration, name)}`",
            _kind(name, field),
            _default(field),
            _allowed(name, field),
            field.description or "",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "Read elsewhere, not settings (each where it is used):",
        "",
        "| variable | default | read by | what |",
        "| --- | --- | --- | --- |",
    ]
    for other in ELSEWHERE:
        row = (f"`{other.name}`", other.default, other.read_by, other.what)
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join([*lines, "", END])


def render(page: str) -> str:
    """``page`` with its generated part as the declaration says now (appended when it has no markers)."""
    if BEGIN in page and END in page:
        head, _, rest = page.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + tables() + tail
    return page.rstrip("\n") + "\n\n" + tables() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, default=DOC, help="the page (default: docs/configuration.md)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not what would be written")
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    wanted = render(page)
    if args.check:
        if page != wanted:
            log.error("%s differs from the settings declaration: run `make docs`", args.page)
            return 1
        return 0
    if page != wanted:
        args.page.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(message)s")
    sys.exit(main())
