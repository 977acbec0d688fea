"""The tfjobs HTTP API: FastAPI routes, settings, the SQL store. Never imports TensorFlow."""
