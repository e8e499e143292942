"""What never runs on a DAG path: generated leads, reference baselines, reports, the PyCaret experiment."""
