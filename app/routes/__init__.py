"""One router per resource, collected in ``app.main``."""
