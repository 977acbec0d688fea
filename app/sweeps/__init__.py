"""Sweeps: hyperparameter searches whose trials are ordinary jobs.

``schema`` checks a request; ``search`` is the search itself (Optuna's samplers and
pruners, its storage beside ours); ``driver`` moves a sweep on: it tells the search how
finished trials did, creates the next trials as jobs, and ends the sweep.
"""
