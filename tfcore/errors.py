"""Every error tfcore raises on purpose, in one tree.

    TfcoreError                 base: a message a user can act on
    ├── DataError               a dataset is missing, malformed or too large
    ├── TrainingError           training could not finish
    │   └── TrainingDiverged    the loss became NaN or infinite
    └── ExportError             an artifact could not be written or failed verification

Spec problems are pydantic ``ValidationError``s (see ``tfcore.spec``), because the
API turns those into 422 answers that name the field and the rule.
"""

from __future__ import annotations

__all__ = ["DataError", "ExportError", "TfcoreError", "TrainingDiverged", "TrainingError"]


class TfcoreError(Exception):
    """Base of every deliberate tfcore error; ``str(err)`` is meant for the user."""

    #: A short machine-readable name, used as a failed job's ``error.type``.
    type: str = "tfcore_error"


class DataError(TfcoreError):
    """A dataset could not be loaded: which file, row or column, and why."""

    type = "data_error"


class TrainingError(TfcoreError):
    """Training stopped on an error."""

    type = "training_error"


class TrainingDiverged(TrainingError):
    """The loss became NaN or infinite; carries where it happened."""

    type = "diverged"

    def __init__(self, *, epoch: int, step: int, loss: float) -> None:
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(
            f"training diverged: the loss became {loss} at epoch {epoch}, step {step}; "
            "try a lower learning_rate, a smaller threshold or normalized targets"
        )


class ExportError(TfcoreError):
    """An artifact could not be written, or reloading it did not reproduce the model."""

    type = "export_error"
