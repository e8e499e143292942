"""`lead-scoring prepare` through the CLI: summaries, bad input, and atomic staging writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.schema import DATA_PIPELINE_TABLES, LABEL, LEAD_ID, MODEL_INPUT
from tests.factories import raw_leads, write_csv


def staging_snapshot(home: Path) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        names = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}  # the schema's revision
        return {name: pd.read_sql_table(name, engine) for name in sorted(names)}
    finally:
        engine.dispose()


@pytest.fixture
def good_run(home, cli):
    """A first good run, whose tables every failed run must leave untouched."""
    path = write_csv(raw_leads(10), home / "good.csv")
    status, out, err = cli("prepare", "--input", path)
    assert status == 0, err
    return staging_snapshot(home)


def test_prepare_writes_five_tables_and_summarises(home, cli):
    path = write_csv(raw_leads(10), home / "leads.csv")
    status, out, _ = cli("prepare", "--input", path)
    assert status == 0
    assert "rows read        10" in out
    assert "rows written     10" in out
    tables = staging_snapshot(home)
    assert set(tables) == set(DATA_PIPELINE_TABLES)
    assert all(len(frame) == 10 for frame in tables.values())
    assert tables[MODEL_INPUT][LEAD_ID].is_unique


def test_verbose_logs_each_step_with_its_time_in_order(home, cli):
    """-v says where a run spent its time, one line per finished step (what `make bench` reads)."""
    from lead_scoring.schema import DATA_STEPS

    path = write_csv(raw_leads(10), home / "leads.csv")
    status, _, err = cli("-v", "prepare", "--input", path)
    assert status == 0
    took = [line.split("prepare: ", 1)[1].rsplit(" took ", 1)[0] for line in err.splitlines() if " took " in line]
    assert took == ["validate", *(step.label for step in DATA_STEPS), "write"]
    status, _, quiet = cli("prepare", "--input", path)
    assert status == 0
    assert " took " not in quiet


def test_rerun_replaces_the_tables(home, cli):
    write_csv(raw_leads(10), home / "a.csv")
    write_csv(raw_leads(5), home / "b.csv")
    assert cli("prepare", "--input", home / "a.csv")[0] == 0
    assert cli("prepare", "--input", home / "b.csv")[0] == 0  # half of them: at the default limit
    assert len(staging_snapshot(home)[MODEL_INPUT]) == 5


def test_a_much_smaller_export_is_refused_unless_allowed(home, cli, good_run, monkeypatch):
    """One lead replacing the ten published ones is a mistake more often than not."""
    small = write_csv(raw_leads(4), home / "small.csv")
    status, _, err = cli("prepare", "--input", small)
    assert status == 2
    assert err == (
        f"error: {small}: 4 lead(s) would replace the 10 in model_input, fewer than 50% of them "
        "(LEAD_SCORING_SHRINK_LIMIT); nothing was written. If that is intended: prepare --allow-shrink, "
        "or the data DAG's param allow_shrink\n"
    )
    after = staging_snapshot(home)
    for name, frame in good_run.items():
        pd.testing.assert_frame_equal(after[name], frame)

    assert cli("prepare", "--input", small, "--allow-shrink")[0] == 0
    assert len(staging_snapshot(home)[MODEL_INPUT]) == 4
    monkeypatch.setenv("LEAD_SCORING_SHRINK_LIMIT", "0")  # no limit
    assert cli("prepare", "--input", write_csv(raw_leads(1), home / "one.csv"))[0] == 0
    assert len(staging_snapshot(home)[MODEL_INPUT]) == 1


def test_lead_ids_are_stable_and_ignore_the_label(home, cli):
    with_label = write_csv(raw_leads(6), home / "a.csv")
    without = write_csv(raw_leads(6, with_label=False), home / "b.csv")
    cli("prepare", "--input", with_label)
    first = staging_snapshot(home)[MODEL_INPUT][LEAD_ID].tolist()
    assert cli("prepare", "--input", without, "--allow-unlabelled")[0] == 0
    second = staging_snapshot(home)[MODEL_INPUT]
    assert second[LEAD_ID].tolist() == first
    assert LABEL not in second.columns


def test_an_unlabelled_export_does_not_replace_the_labelled_leads_without_the_flag(home, cli):
    """It exited 0 and replaced model_input; the next `feedback` then died on the column (issue #23.3)."""
    assert cli("prepare", "--input", write_csv(raw_leads(6), home / "a.csv"))[0] == 0
    before = staging_snapshot(home)[MODEL_INPUT]
    status, _, err = cli("prepare", "--input", write_csv(raw_leads(6, with_label=False), home / "b.csv"))
    assert status == 2
    assert err == (
        f"error: {home / 'b.csv'}: no app_complete_flag column, so these leads have no labels and would replace "
        "the labelled training leads in model_input; nothing was written. To score them: `lead-scoring score`; "
        "to publish them anyway: prepare --allow-unlabelled\n"
    )
    pd.testing.assert_frame_equal(staging_snapshot(home)[MODEL_INPUT], before)


def test_a_lead_id_column_is_kept(home, cli):
    frame = raw_leads(5)
    frame.insert(0, LEAD_ID, [f"crm-{i}" for i in range(5)])
    assert cli("prepare", "--input", write_csv(frame, home / "ids.csv"))[0] == 0
    assert staging_snapshot(home)[MODEL_INPUT][LEAD_ID].tolist() == [f"crm-{i}" for i in range(5)]


def test_lead_ids_that_read_like_missing_markers_are_ids(home, cli):
    """'None', 'nan' and 'NULL' mean missing in the counters, but in a lead_id column they are ids."""
    frame = raw_leads(5)
    ids = ["None", "nan", "NULL", "crm-3", "crm-4"]
    frame.insert(0, LEAD_ID, ids)
    status, _, err = cli("prepare", "--input", write_csv(frame, home / "ids.csv"))
    assert status == 0, err
    assert staging_snapshot(home)[MODEL_INPUT][LEAD_ID].tolist() == ids


def test_a_column_name_with_a_trailing_space_is_that_column(home, cli):
    frame = raw_leads(5).rename(columns={"referred_lead": "referred_lead ", LABEL: f"{LABEL} "})
    status, _, err = cli("prepare", "--input", write_csv(frame, home / "spaced.csv"))
    assert status == 0, err
    model_input = staging_snapshot(home)[MODEL_INPUT]
    assert model_input[LABEL].tolist() == [0, 1, 0, 1, 0]
    assert model_input["referred_lead"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]


def test_duplicates_are_dropped_and_counted(home, cli):
    frame = raw_leads(6)
    frame = pd.concat([frame, frame.iloc[[1, 2]]], ignore_index=True)
    status, out, err = cli("prepare", "--input", write_csv(frame, home / "dups.csv"))
    assert status == 0
    assert "2 exact duplicate(s)" in out
    assert len(staging_snapshot(home)[MODEL_INPUT]) == 6


def test_unknown_columns_warn_and_are_ignored(home, cli):
    frame = raw_leads(4).assign(utm_campaign="x")
    status, out, err = cli("prepare", "--input", write_csv(frame, home / "extra.csv"))
    assert status == 0
    assert "utm_campaign" in err and "ignoring unknown column" in err
    assert "utm_campaign" not in staging_snapshot(home)["loaded_data"].columns


def _bad(frame_edit):
    def build(path: Path) -> Path:
        frame = raw_leads(8).astype(object)
        frame_edit(frame)
        return write_csv(frame, path)

    return build


def _write_bytes(data: bytes):
    def build(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return build


def _text(edit):
    """A valid export of 8 leads as CSV text, edited as a whole."""

    def build(path: Path) -> Path:
        path.write_text(edit(raw_leads(8).to_csv(index=False)))
        return path

    return build


def _comma_after_each(text: str, header: bool) -> str:
    lines = text.splitlines()
    return "\n".join([lines[0] + ("," if header else ""), *(line + "," for line in lines[1:])]) + "\n"


def _extra_column(text: str, name: str, value: str) -> str:
    lines = text.splitlines()
    return "\n".join([f"{lines[0]},{name}", *(f"{line},{value}" for line in lines[1:])]) + "\n"


def _late_bad_byte(path: Path) -> Path:
    """Valid UTF-8 for far more than the 64 KiB checked up front, then one Latin-1 byte at offset 200,000."""
    data = raw_leads(2000).to_csv(index=False).encode()
    assert len(data) > 200_001
    path.write_bytes(data[:200_000] + b"\xe9" + data[200_001:])
    return path


HEADER = ",".join(raw_leads(1).columns).encode()

BAD_INPUTS = {
    "missing column": (
        _bad(lambda f: f.drop(columns=["referred_lead"], inplace=True)),
        ["missing required column", "referred_lead"],
    ),
    "unparseable date": (
        _bad(lambda f: f.__setitem__("created_date", ["yesterday"] * 3 + ["2021-08-01 10:00:00"] * 5)),
        ["created_date", "3 row(s)", "not a date", "'yesterday'", "line 2"],
    ),
    "non-numeric count": (
        _bad(lambda f: f.loc.__setitem__((4, "total_leads_droppped"), "many")),
        ["total_leads_droppped", "1 row(s)", "not a number", "'many'", "line 6"],
    ),
    "referred out of domain": (
        _bad(lambda f: f.loc.__setitem__((2, "referred_lead"), 2.0)),
        ["referred_lead", "not 0 or 1", "'2.0'", "line 4"],
    ),
    "negative count": (
        _bad(lambda f: f.loc.__setitem__((3, "syllabus_expand"), -4.0)),
        ["syllabus_expand", "negative", "'-4.0'"],
    ),
    "label out of domain": (_bad(lambda f: f.loc.__setitem__((0, LABEL), 7)), [LABEL, "not 0 or 1"]),
    "empty file": (_write_bytes(b""), ["the file is empty"]),
    "header only": (_write_bytes(HEADER + b"\n"), ["header but no lead rows"]),
    "not utf-8": (_write_bytes(HEADER + b"\n2021-08-01 10:00:00,b\xe9ngaluru\n"), ["not UTF-8"]),
    "binary": (_write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00"), ["not a text file"]),
    "not utf-8 after the first 64 KiB": (_late_bad_byte, ["not UTF-8", "byte 0xe9 at offset 200000)"]),
    "infinite count": (
        _bad(lambda f: f.loc.__setitem__((2, "total_leads_droppped"), "inf")),
        ["total_leads_droppped", "1 row(s) not a finite number", "'inf'", "line 4"],
    ),
    "count that overflows to infinity": (
        _bad(lambda f: f.loc.__setitem__((5, "chat_clicked"), "1e309")),
        ["chat_clicked", "1 row(s) not a finite number", "'1e309'", "line 7"],
    ),
    "day-first dates": (
        _bad(lambda f: f.__setitem__("created_date", ["13/08/2021 10:00:00"] * 4 + ["05/08/2021 10:00:00"] * 4)),
        ["created_date", "8 row(s) not YYYY-MM-DD", "dd/mm/yyyy", "'13/08/2021 10:00:00'", "line 2"],
    ),
    "a duplicated label column": (
        _text(lambda t: _extra_column(t, "app_complete_flag", "1")),
        ["column 'app_complete_flag' appears twice in the header (columns 45 and 46)"],
    ),
    "a name that differs from another only by a trailing space": (
        _text(lambda t: _extra_column(t, "referred_lead ", "0")),
        ["column 'referred_lead' appears twice in the header (columns 7 and 46)"],
    ),
    "a comma after every row": (
        _text(lambda t: _comma_after_each(t, header=False)),
        ["the rows have one field more than the header"],
    ),
    "a comma after every line, the header too": (
        _text(lambda t: _comma_after_each(t, header=True)),
        ["1 column(s) of the header have no name, e.g. column 46", "a comma at the end of the header"],
    ),
    "many unnamed columns": (
        _text(lambda t: t.replace("\n", "," * 900 + "\n")),
        ["900 column(s) of the header have no name, e.g. column 46"],
    ),
    "a header of a million columns": (
        _text(lambda t: "," * 1_000_000 + "\n" + t),
        ["the header has 1,000,001 columns"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_loses_nothing(case, home, cli, good_run):
    build, expected = BAD_INPUTS[case]
    path = build(home / f"bad {case}.csv")
    status, out, err = cli("prepare", "--input", path)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    for fragment in expected:
        assert fragment in lines[0]
    assert "Traceback" not in err
    after = staging_snapshot(home)
    assert set(after) == set(good_run)
    for name, frame in good_run.items():
        pd.testing.assert_frame_equal(after[name], frame)


def test_missing_path_is_a_clear_error(home, cli, good_run):
    status, _, err = cli("prepare", "--input", home / "nope.csv")
    assert status == 2
    assert err.strip() == f"error: {home / 'nope.csv'}: no such file"


def test_failed_write_leaves_previous_tables(home, cli, good_run, monkeypatch):
    """A failure in the middle of writing (disk full, lost connection) publishes nothing."""
    from lead_scoring.adapters import bulk, staging

    real_write = bulk.write_frame
    calls = []

    def failing_write(conn, frame, table, if_exists="fail"):
        calls.append(table)
        if len(calls) == 3:
            raise staging.sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_write(conn, frame, table, if_exists)

    monkeypatch.setattr(bulk, "write_frame", failing_write)
    with pytest.raises(staging.StagingWriteError, match="refused the write .disk I/O error."):  # one line at the CLI
        from lead_scoring.pipelines.data import prepare
        from lead_scoring.settings import Settings

        prepare(Settings.from_env(), write_csv(raw_leads(6), home / "new.csv"))
    after = staging_snapshot(home)
    assert set(after) == set(good_run)  # no scratch table left behind either
    pd.testing.assert_frame_equal(after[MODEL_INPUT], good_run[MODEL_INPUT])


def test_db_flag_overrides_the_environment(home, cli, tmp_path):
    other = tmp_path / "elsewhere" / "stage.db"
    path = write_csv(raw_leads(3), home / "leads.csv")
    status, out, _ = cli("prepare", "--input", path, "--db", f"sqlite:///{other}")
    assert status == 0
    assert other.exists()
    assert not (home / "lead_scoring.db").exists()
