"""The pure core: decisions on frames and arrays; no MLflow, database or Airflow."""
