"""One module per DAG: the step functions the DAG tasks and the CLI call."""
