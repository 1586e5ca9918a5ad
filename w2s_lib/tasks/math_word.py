"""The paper's math datasets: GSM8K, MATH, and the toy world's GSM8K-like problems."""
from __future__ import annotations

import re
from typing import Any

from .base import Task


class GSM8KTask(Task):
    def gold_target(self, record: Any) -> str:
        """The release's GSM8K target (data/convert.py): the solution without its `<<a*b=c>>` calculator marks."""
        return re.sub(r"<<.*?>>", "", super().gold_target(record))


class MATHTask(Task):
    official_answer_key = "The answer is:"
    def gold_target(self, record: Any) -> str:
        """The release's MATH target: `solution The answer is: answer`."""
        return f"{super().gold_target(record)} The answer is: {record.answer}"


class ToyTask(Task):
    olympic_set = "toy"
    synthetic = True
