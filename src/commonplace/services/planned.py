"""A sweep's batches before they run: what a dry run shows (the forecast, or
the prompts) and what `--max-cost-usd` checks before anything exists.

Prompts are rendered as they are iterated over, with run ids 0 and a fresh
token (the real ones differ only there), so that no sweep holds all its
prompts at once; a forecast only measures them (`protocol.prompt_size`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from commonplace.config import Config
from commonplace.kb.links import NoteLinks
from commonplace.lifecycle.targets import Plan
from commonplace.protocol.grammar import new_token
from commonplace.protocol.prompt import PromptGate, RenderedPrompt
from commonplace.protocol.prompt_size import PromptSize, PromptSizer
from commonplace.runners.pricing import PriceTable
from commonplace.services.batch import ShownGates, prompt_inputs, render_batch_prompt
from commonplace.services.execution import RunnerCall
from commonplace.services.forecast import Forecaster, check_budget
from commonplace.workspace import Workspace

TYPE_CHECKING = False
if TYPE_CHECKING:  # the sweeps own their options
    from commonplace.services.sweeps import SweepOptions


@dataclass(frozen=True)
class PlannedBatch:
    """A batch a dry run would launch, with its prompt."""

    plan: Plan
    prompt: RenderedPrompt

    @property
    def pairs(self) -> int:
        return len(self.prompt.pairs)


@dataclass(frozen=True)
class PlannedBatches:
    """A dry run's batches, each rendered only when iterated over."""

    config: Config | None = None
    plans: tuple[Plan, ...] = ()

    def __len__(self) -> int:
        return len(self.plans)

    def __iter__(self) -> Iterator[PlannedBatch]:
        config = self.config
        if config is None:
            return
        for plan in self.plans:
            zeros = [0] * len(plan.targets)
            yield PlannedBatch(plan, render_batch_prompt(config, plan, zeros, token=new_token()))

    def prompts(self) -> Iterator[RenderedPrompt]:
        return (batch.prompt for batch in self)

    def sizes(self) -> Iterator[PromptSize]:
        """Each batch's prompt measured, not rendered: what a forecast needs."""
        config = self.config
        if config is None:
            return
        sizer = PromptSizer()
        links: dict[str, NoteLinks] = {}
        kept: dict[str, PromptGate] = {}
        shown: dict[int, ShownGates] = {}
        for plan in self.plans:
            zeros = [0] * len(plan.targets)
            notes, gates = prompt_inputs(config, plan, zeros, links, kept, shown)
            yield sizer.size(notes, gates)


def forecaster(
    ws: Workspace, runner: RunnerCall, plans: Sequence[Plan], options: SweepOptions
) -> Forecaster:
    """The forecast of these batches, tallied as it is read."""
    return Forecaster(
        ws.store,
        runner,
        PriceTable(ws.config.pricing),
        PlannedBatches(ws.config, tuple(plans)).sizes(),
        jobs=options.jobs,
        budget=options.max_cost_usd,
        batch_jobs=batch_jobs(options),
    )


def refuse_over_budget(
    ws: Workspace, runner: RunnerCall, plans: Sequence[Plan], options: SweepOptions
) -> tuple[str, ...]:
    """With `--max-cost-usd`, refuse (UserError) a sweep whose forecast
    exceeds it, before any run exists; the notes to pass on when it may go."""
    if options.max_cost_usd is None or not plans:
        return ()
    forecast = forecaster(ws, runner, plans, options).total()
    note = check_budget(forecast, options.max_cost_usd, batch_jobs=batch_jobs(options))
    return (note,) if note else ()


def batch_jobs(options: SweepOptions) -> bool:
    """Whether the sweep goes as provider batch jobs (`--provider-batch`,
    issue 15 item 5, where the options have it), billed at batch prices."""
    return bool(getattr(options, "provider_batch", False))
