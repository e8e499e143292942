# One image for every service of docker-compose.yaml: Airflow (api-server, scheduler, dag-processor,
# triggerer, Celery workers), the MLflow server and the lead-scoring CLI, from the pinned environment.
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AIRFLOW_HOME=/opt/airflow \
    LEAD_SCORING_HOME=/opt/lead-scoring \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/project/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /opt/project
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY pyproject.toml README.md ./
COPY lead_scoring ./lead_scoring
RUN pip install --no-deps .
COPY dags ./dags
COPY data ./data
COPY scripts/check_secrets.sh scripts/mlflow_auth.ini ./scripts/
ENV LEAD_SCORING_DATA_DIR=/opt/project/data

# /opt/mlflow-auth: MLflow's users (basic-auth), a volume apart from the artifacts it serves
RUN mkdir -p "$AIRFLOW_HOME" "$LEAD_SCORING_HOME" /opt/mlflow-artifacts /opt/mlflow-auth \
 && chown -R airflow:0 "$AIRFLOW_HOME" "$LEAD_SCORING_HOME" /opt/mlflow-artifacts /opt/mlflow-auth \
 && chmod 700 /opt/mlflow-auth
USER airflow
