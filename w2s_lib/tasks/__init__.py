"""One Task per dataset: prompt, answer extraction, comparison keys, grading, and whether train_2 has gold.

    task = task_for(preset)          # what RunContext.task returns
    task.prompt(record); task.pred(response, record); task.grade(responses, records)

A dataset name the registry does not know gets the default `Task` (math word problems with a gold final
answer, graded by w2s_lib.grading.answers), or `OlympicTask` when the preset sets `eval.judge: olympic`. A dataset
with rules of its own is a subclass of Task and one entry in TASKS (docs/bring_your_own_dataset.md).
"""
from __future__ import annotations

from .base import Task
from .math_word import GSM8KTask, MATHTask, ToyTask
from .olympic import OlympicArenaTask, OlympicTask, ToyOlympicTask

TASKS: dict[str, type[Task]] = {"gsm8k": GSM8KTask, "math": MATHTask, "toy": ToyTask,
                                "olympicarena": OlympicArenaTask, "toy-olympic": ToyOlympicTask}
JUDGES = {"grading": Task, "olympic": OlympicTask}


def task_for(preset) -> Task:
    """The Task of a preset: TASKS[dataset.name], else the default task of its `eval.judge`.

    A registered task whose judge differs from the preset's `eval.judge` is an error naming the preset."""
    name = preset.dataset["name"]
    judge = preset.eval.get("judge") or "grading"
    if judge not in JUDGES:
        raise ValueError(f"{preset.path}: eval.judge must be one of {tuple(JUDGES)}, got {judge!r}")
    cls = TASKS.get(name)
    if cls is None:
        return JUDGES[judge](name)
    if cls.judge != judge:
        if issubclass(cls, OlympicTask):
            raise ValueError(f"{preset.path}: dataset {name!r} needs eval.judge: olympic, not {judge!r}")
        # a toy or GSM8K run judged per answer type (tests, experiments): the dataset's task with that judge
        return _with_judge(cls, judge)(name)
    return cls(name)


def _with_judge(cls: type[Task], judge: str) -> type[Task]:
    """The dataset's own attributes (gold target, set kind) with another judge's prompts and grading."""
    other = JUDGES[judge]
    return type(f"{cls.__name__}_{judge}", (other, cls), {"judge": judge})


__all__ = ["Task", "TASKS", "task_for", "GSM8KTask", "MATHTask", "ToyTask", "OlympicTask", "OlympicArenaTask", "ToyOlympicTask"]
