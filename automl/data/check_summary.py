"""What a study records of the data check (`StudyRecord.data_check`): one typed record.

`automl check-data` prints it, a new study on an image folder stores it (as a dict, its
fields' names as keys), its report shows it. A study without a check stores {}.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataCheckSummary:
    exact_train: int  # duplicate pairs inside train/
    near_train: int
    exact_across: int  # pairs across train/ and the held-out folder
    near_across: int
    unreadable: int
    small: int  # images smaller than the resolution asks
    threshold: int  # perceptual-hash distance counted as a near copy
    ran: str | None = None  # when a study ran it (UTC, ISO)
    dedupe: bool | None = None  # whether --dedupe left the pairs across out (a study)
    excluded: int | None = None  # training photos --dedupe left out

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DataCheckSummary | None:
        """The stored record; None for {} (the digits, or a study made before the check)."""
        if not values:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
