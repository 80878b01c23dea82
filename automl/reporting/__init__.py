"""`automl report`: figures and findings of a study, from its database (and final model)."""

from automl.reporting.build import SECTIONS, report
from automl.reporting.final_sections import SHOWN

__all__ = ["SECTIONS", "SHOWN", "report"]
