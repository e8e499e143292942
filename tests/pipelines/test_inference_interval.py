"""A daily run owns the leads created in [00:00, 24:00) of its day: the boundaries, literally."""

from __future__ import annotations

from lead_scoring.pipelines.inference import check_input_step, discard_step, validate_step
from tests.factories import raw_leads, write_csv


def test_a_lead_at_midnight_belongs_to_the_next_day(settings):
    leads = raw_leads(4, with_label=False)
    leads["created_date"] = [
        "2021-11-30 23:59:59",  # the day before
        "2021-12-01 00:00:00",  # the first second of the day
        "2021-12-01 23:59:59",  # its last second
        "2021-12-02 00:00:00",  # the next day's first second
    ]
    write_csv(leads, settings.landing_dir / "leads.csv")
    assert check_input_step(settings, "2021-12-01T00:00:00+00:00", "2021-12-02T00:00:00+00:00") == 2
    assert check_input_step(settings, "2021-12-02T00:00:00+00:00", "2021-12-03T00:00:00+00:00") == 1
    # an interval given in another zone is the same instant in UTC
    assert check_input_step(settings, "2021-12-01T05:30:00+05:30", "2021-12-02T05:30:00+05:30") == 2
    # the step that keeps the leads draws the same line as the one that counts them
    assert validate_step(settings, "2021-12-01T00:00:00+00:00", "2021-12-02T00:00:00+00:00") == 2
    discard_step(settings, "2021-12-01T00:00:00+00:00")
