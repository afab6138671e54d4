"""Report: the outcome of a warm start as data (:mod:`.report`) and as tables (:mod:`.render`)."""

from ..plan import LoadedEntry, SkippedEntry, SlotEntry
from .report import Report, report_from_plan

__all__ = ["LoadedEntry", "Report", "SkippedEntry", "SlotEntry", "report_from_plan"]
