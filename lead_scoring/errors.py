"""The exceptions a user can meet. The CLI turns each into exit status 2 and one plain line."""

from __future__ import annotations


class LeadScoringError(Exception):
    """Base of every error that is the user's to fix, not a bug."""


class ConfigurationError(LeadScoringError):
    """A setting is missing or malformed."""


class InvalidArgumentError(LeadScoringError):
    """A value given on the command line or to a step (a date, a reason, a path) cannot be used; nothing changed."""


class InputDataError(LeadScoringError):
    """An input file or table cannot be used as it is; nothing was written."""


class MissingTableError(LeadScoringError):
    """A staging table a step needs does not exist yet."""


class InsufficientDataError(LeadScoringError):
    """Too few leads or conversions to train or evaluate a model."""


class ModelNotFoundError(LeadScoringError):
    """The model registry has no version under the name or alias asked for."""


class TrackingUnavailableError(LeadScoringError):
    """The MLflow tracking store did not answer (down, unreachable, refused); nothing was changed there."""


class StagingBusyError(LeadScoringError):
    """Another run held the staging database's write lock for longer than the wait allowed; nothing was written."""


class StagingWriteError(LeadScoringError):
    """The staging database refused a write (read-only, out of space, a disk error); nothing was published."""


class DriftDetectedError(LeadScoringError):
    """Incoming leads no longer look like the leads the model learned from (scores were still written)."""


class BelowTargetError(LeadScoringError):
    """The latest complete week's realized figures miss a target (the tables are written either way)."""
