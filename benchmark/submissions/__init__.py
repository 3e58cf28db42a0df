"""Submissions: a stranger's synthetic dataset, validated, stored safely, trainable and ranked.

    from benchmark.submissions import submit, load_submission_dataset
    result = submit("my_data.zip", "my-synth", attributes="attrs.csv", license="CC-BY-4.0")
    result.status, result.reasons, result.report        # accepted / rejected, why, the full report
    ds = load_submission_dataset("my-synth")            # Dataset(kind="submission", key="submission:my-synth")

Layouts, limits, what is an error and what a warning: submissions/README.md and
the module docstrings (archive, images, layouts, attribute_table, validate).
"""
from __future__ import annotations

from benchmark.submissions.catalog import (
    accepted_version,
    get_submission,
    list_submissions,
    load_submission_dataset,
    remove_submission,
)
from benchmark.submissions.content_store import default_store_root
from benchmark.submissions.duplicates import default_index_dir, index_known_dataset
from benchmark.submissions.errors import InvalidName, Rejected, SubmissionError, UnknownSubmission
from benchmark.submissions.limits import ACCEPTED_FORMATS, DEFAULT_LIMITS, Limits
from benchmark.submissions.manifest_toml import default_submissions_dir
from benchmark.submissions.names import NAME_RULE, is_valid_name, shown, validate_name
from benchmark.submissions.submit import SubmissionResult, submit

__all__ = [
    "ACCEPTED_FORMATS", "DEFAULT_LIMITS", "InvalidName", "Limits", "NAME_RULE", "Rejected", "SubmissionError",
    "SubmissionResult", "UnknownSubmission", "accepted_version", "default_index_dir", "default_store_root",
    "default_submissions_dir", "get_submission", "index_known_dataset", "is_valid_name", "list_submissions",
    "load_submission_dataset", "remove_submission", "shown", "submit", "validate_name",
]
