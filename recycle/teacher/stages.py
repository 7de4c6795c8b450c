"""Ray Data adapters of the teacher: async callable classes for `map_batches` over an actor pool.

Each actor builds one `AsyncOpenAI` client (through `TeacherClient`) in its constructor and keeps
up to `teacher.concurrency` requests in flight, across the `teacher.calls_per_actor` batches it
works on at once. Every actor of a job shares one gate actor (rate limit, budget, accounting),
found by name.
"""

from __future__ import annotations

import inspect
from typing import Any

import pyarrow as pa
import ray

from recycle import columns as C
from recycle.config.load import as_config
from recycle.config.teacher import TeacherConfig
from recycle.teacher.cache import AnswerCache
from recycle.teacher.client import TeacherClient
from recycle.teacher.core import Reflector
from recycle.teacher.errors import JOB_STOPPING
from recycle.teacher.gate import GateSettings, LocalGate, RayGate
from recycle.teacher.tasks import InstructionTask, ReflectionTask, ResponseTask


class _TeacherStage:
    """Shared constructor and call of the two reflection stages."""

    def __init__(
        self,
        task: ReflectionTask,
        teacher: dict[str, Any] | TeacherConfig,
        gate_name: str | None,
        cache_dir: str | None,
    ):
        cfg = as_config(TeacherConfig, teacher)
        settings = GateSettings.from_config(cfg)
        gate = RayGate(gate_name, settings) if gate_name else LocalGate(settings)
        cache = AnswerCache(cache_dir) if cache_dir and cfg.cache else None
        self.client = TeacherClient(cfg, gate, cache)
        self.reflector = Reflector(task, self.client, cfg)

    async def __call__(self, batch: pa.Table) -> pa.Table:
        try:
            return await self.reflector.reflect_table(batch)
        except JOB_STOPPING as err:
            # Ray passes only the text of a task's error to the driver: leave the gate the type too.
            await self.client.gate.record_fatal(type(err).__name__, str(err))
            raise
        finally:
            await self.client.gate.flush()


class ReflectInstruction(_TeacherStage):
    """Teacher reflection on the instruction: writes new_instruction, new_input (""), new_output.

    Args:
        teacher: the teacher config (a TeacherConfig or its dict).
        gate_name: name of the job's gate actor; None keeps the gate in this actor (one actor only).
        cache_dir: answer cache folder (local, s3://, gs://); None disables the cache.
    """

    def __init__(
        self,
        teacher: dict[str, Any] | TeacherConfig,
        gate_name: str | None = None,
        cache_dir: str | None = None,
    ):
        super().__init__(InstructionTask(), teacher, gate_name, cache_dir)


class ReflectResponse(_TeacherStage):
    """Teacher reflection on the response of the pair in the given columns: writes better_output.

    Args:
        teacher: the teacher config (a TeacherConfig or its dict).
        gate_name: name of the job's gate actor; None keeps the gate in this actor (one actor only).
        cache_dir: answer cache folder (local, s3://, gs://); None disables the cache.
        instruction_column: column of the instruction x1 (the original, or the reflected one).
        input_column: column of its input ("" or null: the prompt without input is used).
        output_column: column of the response y1.
    """

    def __init__(
        self,
        teacher: dict[str, Any] | TeacherConfig,
        gate_name: str | None = None,
        cache_dir: str | None = None,
        instruction_column: str = C.INSTRUCTION,
        input_column: str = C.INPUT,
        output_column: str = C.OUTPUT,
    ):
        task = ResponseTask(
            instruction_column=instruction_column,
            input_column=input_column,
            output_column=output_column,
        )
        super().__init__(task, teacher, gate_name, cache_dir)


def map_teacher_pool(
    ds: ray.data.Dataset,
    stage: type,
    cfg: TeacherConfig,
    kwargs: dict[str, Any],
    config_arg: str = "teacher",
) -> ray.data.Dataset:
    """`stage` over `ds` on an async actor pool sized by `cfg` (the teacher's, or the judge's);
    the stage gets `cfg` as JSON under `config_arg`, plus `kwargs`.

    Each actor runs `cfg.calls_per_actor` batches at once (`actor_pool`)."""
    compute, remote_args = actor_pool(cfg.num_actors, cfg.calls_per_actor)
    return ds.map_batches(
        stage,
        fn_constructor_kwargs={config_arg: cfg.model_dump(mode="json"), **kwargs},
        batch_format="pyarrow",
        batch_size=cfg.rows_per_batch(),
        compute=compute,
        num_cpus=cfg.actor_num_cpus,
        udf_modifying_row_count=False,
        **remote_args,
    )


def actor_pool(size: int, calls_per_actor: int) -> tuple[Any, dict[str, int]]:
    """A pool of `size` actors each running `calls_per_actor` calls at once: the compute strategy
    and the remote arguments for `map_batches`.

    Ray Data since 2.55 takes it as ActorPoolStrategy's `max_concurrent_calls_per_actor`, which
    leaves the light task steps around the stage free to fuse into its actors; the floor (ray
    2.54) has no such argument and takes the actors' `max_concurrency` as a remote argument
    (the same setting, but an operator with it fuses with no task step)."""
    if "max_concurrent_calls_per_actor" in inspect.signature(ray.data.ActorPoolStrategy).parameters:
        strategy = ray.data.ActorPoolStrategy(
            size=size, max_concurrent_calls_per_actor=calls_per_actor
        )
        return strategy, {}
    return ray.data.ActorPoolStrategy(size=size), {"max_concurrency": calls_per_actor}


def reflect_instruction(
    ds: ray.data.Dataset, cfg: TeacherConfig, gate_name: str, cache_dir: str | None
) -> ray.data.Dataset:
    """Add the instruction-reflection columns to a dataset of normalized samples."""
    return map_teacher_pool(
        ds, ReflectInstruction, cfg, {"gate_name": gate_name, "cache_dir": cache_dir}
    )


def reflect_response(
    ds: ray.data.Dataset,
    cfg: TeacherConfig,
    gate_name: str,
    cache_dir: str | None,
    instruction_column: str = C.INSTRUCTION,
    input_column: str = C.INPUT,
    output_column: str = C.OUTPUT,
) -> ray.data.Dataset:
    """Add better_output (and its status) for the pair held in the given columns."""
    kwargs = {
        "gate_name": gate_name,
        "cache_dir": cache_dir,
        "instruction_column": instruction_column,
        "input_column": input_column,
        "output_column": output_column,
    }
    return map_teacher_pool(ds, ReflectResponse, cfg, kwargs)
