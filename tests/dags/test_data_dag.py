"""The data DAG end to end with dag.test(): real Airflow task execution, in process, on SQLite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.schema import DATA_PIPELINE_TABLES, MODEL_INPUT
from tests.conftest import load_dag
from tests.factories import raw_leads, write_csv

pytestmark = pytest.mark.slow


def tables(home: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}  # the schema's revision
    finally:
        engine.dispose()


def test_data_dag_runs_end_to_end(airflow_db, home, cli):
    write_csv(raw_leads(12), home / "incoming" / "leads.csv")
    dag = load_dag("lead_scoring_data_pipeline.py", "data_pipeline_dag")

    run = dag.test(run_conf={"input_path": "incoming/leads.csv"})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert set(states.values()) == {"success"}
    assert tables(home) == set(DATA_PIPELINE_TABLES)  # published, no scratch left
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    assert len(pd.read_sql_table(MODEL_INPUT, engine)) == 12

    # one task per step (each copying unchanged columns from the table it read) stores what the
    # one-process `prepare` stores
    other = home / "prepare.db"
    assert cli("prepare", "--input", str(home / "incoming" / "leads.csv"), "--db", f"sqlite:///{other}")[0] == 0
    by_prepare = sa.create_engine(f"sqlite:///{other}")
    for table in DATA_PIPELINE_TABLES:
        pd.testing.assert_frame_equal(pd.read_sql_table(table, engine), pd.read_sql_table(table, by_prepare), obj=table)
    engine.dispose()
    by_prepare.dispose()


def test_data_dag_fails_loudly_on_bad_input_and_keeps_tables(airflow_db, home, cli):
    good = write_csv(raw_leads(5), home / "good.csv")
    assert cli("prepare", "--input", good)[0] == 0
    bad = raw_leads(5).astype(object)
    bad.loc[1, "referred_lead"] = 5
    write_csv(bad, home / "bad.csv")
    dag = load_dag("lead_scoring_data_pipeline.py", "data_pipeline_dag")

    run = dag.test(run_conf={"input_path": "bad.csv"})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["validate"] == "failed"
    assert states["publish"] == "upstream_failed"
    assert tables(home) == set(DATA_PIPELINE_TABLES)  # the good run's tables, and no scratch
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    assert len(pd.read_sql_table(MODEL_INPUT, engine)) == 5
    engine.dispose()


def test_data_dag_reads_only_under_its_home_or_landing_folder(airflow_db, home, cli, tmp_path_factory):
    """input_path may not leave LEAD_SCORING_HOME (absolute or ../): the validate task fails, nothing is read."""
    good = write_csv(raw_leads(5), home / "good.csv")
    assert cli("prepare", "--input", good)[0] == 0
    outside = write_csv(raw_leads(5), tmp_path_factory.mktemp("elsewhere") / "secret.csv")
    dag = load_dag("lead_scoring_data_pipeline.py", "data_pipeline_dag")

    for given in (str(outside), f"../{outside.parent.name}/secret.csv"):
        run = dag.test(run_conf={"input_path": given})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "failed" and states["validate"] == "failed", given
        assert states["publish"] == "upstream_failed"
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    assert len(pd.read_sql_table(MODEL_INPUT, engine)) == 5
    engine.dispose()
