"""Bytes (#29, item 8): a NUL byte anywhere refuses the export; every CSV the project writes is spreadsheet-safe."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from lead_scoring.adapters.exports import from_spreadsheet_safe, spreadsheet_safe
from lead_scoring.adapters.sources import read_column, read_raw_leads
from lead_scoring.errors import InputDataError
from lead_scoring.lab.generate import generate_leads
from tests.factories import write_csv

PACKAGE = Path(__file__).resolve().parents[2] / "lead_scoring"


@pytest.mark.parametrize("where", ["first row", "last row"])
def test_a_nul_byte_anywhere_is_refused(where, tmp_path):
    """The CSV parser cuts a cell at a NUL: a lead id ``crm-7\\0x`` was read as ``crm-7``. Only the first
    64 KiB were checked; 2,000 leads are far more than that."""
    leads = generate_leads(2000, seed=1)
    leads.insert(0, "lead_id", [f"crm-{i}" for i in range(len(leads))])
    path = write_csv(leads, tmp_path / "leads.csv")
    assert path.stat().st_size > 3 * 65536
    data = path.read_bytes()
    at = data.index(b"crm-1,") if where == "first row" else data.rindex(b"crm-1999,")
    path.write_bytes(data[: at + 5] + b"\x00x" + data[at + 5 :])
    for read in (read_raw_leads, lambda p: read_column(p, "lead_id")):
        with pytest.raises(InputDataError, match=r"leads\.csv: not a text file \(a NUL byte at offset \d+\)"):
            read(path)


def test_the_escape_is_undone_when_the_project_reads_its_own_csv_back():
    frame = pd.DataFrame({"lead_id": ["=1+1", "-x", "plain", "'quoted"], "score": [-0.5, 0.1, 0.2, 0.3]})
    back = from_spreadsheet_safe(spreadsheet_safe(frame))
    assert back["lead_id"].tolist() == ["=1+1", "-x", "plain", "'quoted"]
    assert back["score"].tolist() == [-0.5, 0.1, 0.2, 0.3]


# temporary copies of an input, read back by the project's own reader at once and never opened by a
# person: written as read (an escape would change the leads the replay or the DAG step validates)
RAW_COPIES = {
    "lab/replay.py": 4,  # the thinned export (--base-rate), history.csv, a day's leads and outcomes, in its own home
    "lab/generate.py": 1,  # the generated leads read back to key their outcomes
    "pipelines/inference.py": 1,  # one day's leads handed to the validate step as a file
}


def test_every_csv_the_project_writes_goes_through_the_spreadsheet_escape():
    """MLflow artifacts too (validation leads, promotion leads): a person downloads and opens them."""
    found: dict[str, int] = {}
    for module in PACKAGE.rglob("*.py"):
        name = module.relative_to(PACKAGE).as_posix()
        calls = len(re.findall(r"\.to_csv\(", module.read_text()))
        if calls and name != "adapters/exports.py":
            found[name] = calls
    assert found == RAW_COPIES
