"""Data layer: decode every image once, cache it as uint8 tensors, batch it on any device."""

from automl.data.augment import augment_batch
from automl.data.batches import Batches, channel_stats, to_device_if_fits
from automl.data.cache import clear_memo
from automl.data.decode import decode_file, resize_square
from automl.data.sources import DataSource, ImageSet, open_source
from automl.data.split import stratified_split

__all__ = [
    "Batches",
    "DataSource",
    "ImageSet",
    "augment_batch",
    "channel_stats",
    "clear_memo",
    "decode_file",
    "open_source",
    "resize_square",
    "stratified_split",
    "to_device_if_fits",
]
