"""The Celery app, its beat schedule and the job tasks."""
