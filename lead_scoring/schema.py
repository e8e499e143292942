"""Column and table names, and the data pipeline's steps: the contract between the raw export, the staging
database and the model. Imports nothing heavy: DAG files read it when they are parsed."""

from __future__ import annotations

from dataclasses import dataclass

CREATED_DATE = "created_date"
CITY = "city_mapped"
CITY_TIER = "city_tier"
LABEL = "app_complete_flag"
LEAD_ID = "lead_id"
TOTAL_LEADS_DROPPED = "total_leads_droppped"  # sic: three p's, as in the raw export
REFERRED_LEAD = "referred_lead"

CATEGORICAL_COLUMNS: tuple[str, ...] = ("first_platform_c", "first_utm_medium_c", "first_utm_source_c")
COUNT_COLUMNS: tuple[str, ...] = (TOTAL_LEADS_DROPPED, REFERRED_LEAD)
# The largest count a raw export may give in one cell (enquiries, clicks). A real lead has a few
# dozen at most; far larger values are corrupt and would overflow the group sums or an int cast.
MAX_COUNT = 1_000_000
OTHERS_LEVEL = "others"
UNKNOWN_CITY_TIER = 3.0  # a city the mapping file does not list, or none, unless it sets default_tier

INTERACTION_COLUMNS: tuple[str, ...] = (
    "1_on_1_industry_mentorship",
    "call_us_button_clicked",
    "career_assistance",
    "career_coach",
    "career_impact",
    "careers",
    "chat_clicked",
    "companies",
    "download_button_clicked",
    "download_syllabus",
    "emi_partner_click",
    "emi_plans_clicked",
    "fee_component_click",
    "hiring_partners",
    "homepage_upgrad_support_number_clicked",
    "industry_projects_case_studies",
    "live_chat_button_clicked",
    "payment_amount_toggle_mover",
    "placement_support",
    "placement_support_banner_tab_clicked",
    "program_structure",
    "programme_curriculum",
    "programme_faculty",
    "request_callback_on_instant_customer_support_cta_clicked",
    "shorts_entry_click",
    "social_referral_click",
    "specialisation_tab_clicked",
    "specializations",
    "specilization_click",
    "syllabus",
    "syllabus_expand",
    "syllabus_submodule_expand",
    "tab_career_assistance",
    "tab_job_opportunities",
    "tab_student_support",
    "view_programs_page",
    "whatsapp_chat_click",
)

INTERACTION_GROUPS: tuple[str, ...] = (
    "assistance_interaction",
    "career_interaction",
    "payment_interaction",
    "social_interaction",
    "syllabus_interaction",
)

# The raw export, in its column order (44 columns plus the label when the export has it).
RAW_FEATURE_COLUMNS: tuple[str, ...] = (
    CREATED_DATE,
    CITY,
    *CATEGORICAL_COLUMNS,
    TOTAL_LEADS_DROPPED,
    REFERRED_LEAD,
    *INTERACTION_COLUMNS,
)
RAW_COLUMNS: tuple[str, ...] = (*RAW_FEATURE_COLUMNS, LABEL)

# Staging tables, under the reference design's names.
VALIDATED_LEADS = "validated_leads"  # scratch only: the validated export the first step reads
LOADED_DATA = "loaded_data"
CITY_TIER_MAPPED = "city_tier_mapped"
CATEGORICAL_VARIABLES_MAPPED = "categorical_variables_mapped"
INTERACTIONS_MAPPED = "interactions_mapped"
MODEL_INPUT = "model_input"


@dataclass(frozen=True)
class DataStep:
    """One step of the data pipeline, declared once: `transform_leads`, the data DAG's tasks and the
    CLI's progress all read :data:`DATA_STEPS`.

    ``function`` names the step's pure function in :mod:`lead_scoring.core.transforms`; it is called
    with the frames of ``reads`` in order, then the mappings when ``uses_mappings``, and returns the
    frame of ``writes``. Named, not imported, so that a DAG file parses without pandas.
    """

    task_id: str  # the data DAG's task
    label: str  # what it does, in a few words: the task's UI doc and the CLI's progress line
    function: str
    reads: tuple[str, ...]
    writes: str
    uses_mappings: bool = True


# Adding a step: one entry here and its pure function in lead_scoring/core/transforms.py.
DATA_STEPS: tuple[DataStep, ...] = (
    DataStep(
        "load", "missing total_leads_droppped / referred_lead become 0", "load_leads", (VALIDATED_LEADS,), LOADED_DATA,
        uses_mappings=False,
    ),
    DataStep("map_city_tier", "city_mapped -> tier 1/2/3", "map_city_tier", (LOADED_DATA,), CITY_TIER_MAPPED),
    DataStep(
        "map_categorical_levels", "rare source/medium/platform levels -> others", "map_significant_levels",
        (CITY_TIER_MAPPED,), CATEGORICAL_VARIABLES_MAPPED,
    ),
    DataStep(
        "map_interactions", "37 click counters -> five interaction groups", "map_interaction_groups",
        (CATEGORICAL_VARIABLES_MAPPED,), INTERACTIONS_MAPPED,
    ),
    DataStep(
        "build_model_input", "the model's input contract", "build_model_input", (INTERACTIONS_MAPPED, LOADED_DATA),
        MODEL_INPUT, uses_mappings=False,
    ),
)  # fmt: skip
# the tables a data-pipeline run publishes together
DATA_PIPELINE_TABLES: tuple[str, ...] = tuple(step.writes for step in DATA_STEPS)
PREDICTIONS = "predictions"
# a registry version's tag: the cut its latest batch flagged at, which the served model labels with
ONLINE_CUT_TAG = "online_cut"
SCORING_RUNS = "scoring_runs"
ALARMS = "alarms"  # drift episodes: opened once, closed when the drift ends or a model trained on it serves
SERVED_DAYS = "served_days"  # the version that decided each day of the daily DAG: its reruns score with it

# The closed loop: what was scored, the outcomes that came back, and how each version really did.
SCORED_LEADS = "scored_leads"  # the model input of every scored lead, keyed by lead_id
OUTCOMES = "outcomes"  # the CRM's outcome per scored lead (the newer label wins)
UNMATCHED_OUTCOMES = "unmatched_outcomes"  # outcomes of leads never scored here, kept aside
MODEL_PERFORMANCE = "model_performance"  # realized figures per model version and ISO week
FIRST_SCORED_AT = "first_scored_at"
OUTCOME_AT = "outcome_at"
# A CRM outcome file: these columns, the first two required (the rules: lead_scoring.core.outcomes)
OUTCOME_COLUMNS: tuple[str, ...] = (LEAD_ID, LABEL, OUTCOME_AT)
REQUIRED_OUTCOME_COLUMNS: tuple[str, ...] = (LEAD_ID, LABEL)
RETRAIN_REASON = "retrain_reason"  # why the feedback loop republished model_input: asset event extra, run tag

# Airflow Asset URIs (x- scheme: ours, no provider normaliser is looked up at parse time).
MODEL_INPUT_ASSET_URI = "x-lead-scoring://staging/model_input"
CHAMPION_ASSET_URI = "x-lead-scoring://registry/champion"
