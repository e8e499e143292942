"""The edges: files, the staging database, bulk writes, plots and MLflow."""
