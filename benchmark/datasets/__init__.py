"""Datasets: the registry, one reader per on-disk format, validation and fingerprints.

    from benchmark.datasets import canonical_key, load_dataset, dataset_keys, dataset_status, check_dataset, fingerprint

Loaders are read-only and strict (a file that breaks its format's pattern is a
DataError naming the file and the pattern). Records keep raw pids; the trainer
relabels train ids to 0..N-1 (benchmark.reid.data.relabel).
"""
from __future__ import annotations

from benchmark.datasets.check import CheckReport, check_dataset
from benchmark.datasets.fingerprint import fingerprint
from benchmark.datasets.records import DataError, Dataset, DatasetMissing, Record
from benchmark.datasets.registry import (
    UnknownDataset,
    canonical_key,
    dataset_keys,
    dataset_status,
    get_spec,
    load_dataset,
    load_target,
    missing_message,
)

__all__ = [
    "CheckReport",
    "DataError",
    "Dataset",
    "DatasetMissing",
    "Record",
    "UnknownDataset",
    "canonical_key",
    "check_dataset",
    "dataset_keys",
    "dataset_status",
    "fingerprint",
    "get_spec",
    "load_dataset",
    "load_target",
    "missing_message",
]
