"""How much of a score is noise: a value shown with its spread, and the warning a search
gives when its validation split is too small to rank trials by (docs/concepts.md, Folds)."""

from __future__ import annotations

SMALL_SPLIT = 200  # validation images under which one split's accuracy is mostly noise


def with_sd(value: float, sd: float | None) -> str:
    """`0.6234`, or `0.6234 ± 0.0312` for a value that is the mean of several runs."""
    return f"{value:.4f}" if sd is None else f"{value:.4f} ± {sd:.4f}"


def small_split_warning(validation_images: int, cv: int | None) -> str | None:
    """What a search on a small validation split says once when it starts (None: nothing)."""
    if cv or validation_images >= SMALL_SPLIT:
        return None
    return (
        f"the validation split holds {validation_images} images: trial values on it differ "
        "by several points from the seed alone; --cv 5 validates on every training image "
        "(5 folds) for a steadier ranking"
    )
