-- One Postgres server, three databases: Airflow's metadata, the staging tables, MLflow's backend.
CREATE DATABASE airflow;
CREATE DATABASE staging;
CREATE DATABASE mlflow;
