"""The whole run configuration: one typed section per part of the pipeline."""

from __future__ import annotations

from pydantic import Field

from recycle.config.base import Section
from recycle.config.data import DataConfig, OutputConfig, RayConfig
from recycle.config.eval import EvalConfig, JudgeConfig
from recycle.config.selection import SelectionConfig
from recycle.config.student import StudentConfig
from recycle.config.teacher import TeacherConfig
from recycle.config.train import TrainConfig


class RecycleConfig(Section):
    """Everything a run needs; every key with a sensible default has one."""

    data: DataConfig = Field(default_factory=DataConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
