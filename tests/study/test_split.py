"""The study's training pool: the one place that leaves the --dedupe rows out."""

import torch

from automl.data import ImageSet
from automl.study.split import training_pool, validation_rows


class Source:
    """A training pool of 10 one-pixel images, each holding its own row number."""

    def __init__(self) -> None:
        self.pool = ImageSet(
            torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1),
            torch.tensor([0, 1] * 5),
            ("a", "b"),
        )

    def train_pool(self, resolution, cache_dir, base=None) -> ImageSet:
        return self.pool


def test_the_dedupe_rows_are_left_out_and_rows_name_the_whole_pool(tmp_path):
    source = Source()
    pool = training_pool(source, 8, tmp_path, None, [5, 2])
    assert pool.rows.tolist() == [0, 1, 3, 4, 6, 7, 8, 9]
    assert pool.images.flatten().tolist() == pool.rows.tolist()
    assert pool.labels.tolist() == [0, 1, 1, 0, 0, 1, 0, 1]
    val = validation_rows(pool, 0, ("a", "b"))
    assert val and set(val) <= set(pool.rows.tolist())  # never a row --dedupe left out
    whole = training_pool(source, 8, tmp_path, None, [])
    assert whole.images is source.pool.images and whole.rows.tolist() == list(range(10))
