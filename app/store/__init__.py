"""The SQL job store: the source of truth for jobs, attempts, metrics, logs, datasets, artifacts."""
