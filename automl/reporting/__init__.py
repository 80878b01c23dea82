"""`automl report`: figures and findings of a study, from its database (and final model)."""

from automl.reporting.build import SECTIONS, SHOWN, report, report_dir

__all__ = ["SECTIONS", "SHOWN", "report", "report_dir"]
