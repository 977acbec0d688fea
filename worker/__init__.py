"""The Celery worker: claims jobs from the store, trains them with tfcore, reports and exports."""
