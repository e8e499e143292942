"""Everything that talks to MLflow: the tracking store, runs, the registry and the pyfunc."""
