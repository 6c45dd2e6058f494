"""What a flow tells a person: one result row per step, one summary table, no library noise.

Every step of a flow returns a :class:`StepResult` (plain data, so tests read it without
Prefect); the flow returns a :class:`FlowSummary` and the CLI prints it with
:func:`render` as one table. :func:`quiet` hides the library messages that say nothing to
the person running the batch (MLflow's integer-column schema hint and its cloudpickle
warning, setuptools/pkg_resources build warnings, Prefect's per-task INFO lines); ``-v``
(``quiet(False)``) leaves everything visible.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field

#: Step statuses: ``ok`` produced what it should, ``skipped`` had a reason not to run (no new
#: data, no champion), ``failed`` could not produce what was asked (the flow exits non-zero).
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass
class StepResult:
    """One step of a flow run, as shown in the summary table.

    Attributes:
        step: Step name, e.g. ``ingest`` or ``forecast volume``.
        tenant: Tenant the step ran for.
        status: ``ok``, ``skipped`` or ``failed``.
        reason: Why it was skipped or failed, or a short note.
        rows_in: Rows read.
        rows_quarantined: Rows (or whole files) set aside with a reason.
        trained: Models trained (and registered).
        promoted: Models that became champion through the gate.
        kept: Models the gate did not promote (the champion stayed).
        files: Files written.
        seconds: Wall time.
        cpu_seconds: CPU time (user + system) of this process and the worker processes it
            waited for during the step.
        detail: Anything else worth keeping (paths, versions, gate reasons).
    """

    step: str
    tenant: str
    status: str = OK
    reason: str = ""
    rows_in: int = 0
    rows_quarantined: int = 0
    trained: int = 0
    promoted: int = 0
    kept: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-friendly copy."""
        return asdict(self)


@dataclass
class FlowSummary:
    """All steps of one flow run (possibly several tenants)."""

    flow: str
    steps: list[StepResult] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[StepResult]:
        """Steps that could not produce what was asked."""
        return [s for s in self.steps if s.status == FAILED]

    @property
    def exit_code(self) -> int:
        """0 unless something asked for could not be produced."""
        return 1 if self.failed else 0

    def step(self, name: str, tenant: str | None = None) -> StepResult:
        """The result of step ``name`` (for ``tenant``); KeyError if absent."""
        for s in self.steps:
            if s.step == name and (tenant is None or s.tenant == tenant):
                return s
        raise KeyError(f"no step {name!r} for tenant {tenant!r} in {self.flow}")


def render(summary: FlowSummary, console=None, width: int = 72) -> None:
    """Print the summary as one rich table; reasons longer than ``width`` follow in full."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal and console.width < 120:  # logs and pipes: room for reasons
        console = Console(width=120, file=console.file)
    multi = len({s.tenant for s in summary.steps}) > 1
    table = Table(title=f"{summary.flow}: {len(summary.steps)} steps, "
                        f"{len(summary.failed)} failed", title_justify="left")
    heads = (["tenant"] if multi else []) + ["step", "rows in", "quarantined",
                                             "trained/promoted/kept", "files", "seconds",
                                             "status", "reason"]
    for h in heads:
        table.add_column(h, justify="right" if h in ("rows in", "quarantined", "files",
                                                     "seconds") else "left",
                         no_wrap=h != "reason", overflow="fold")
    colour = {OK: "green", SKIPPED: "yellow", FAILED: "red"}
    notes = []
    for i, s in enumerate(summary.steps, 1):
        reason = s.reason if len(s.reason) <= width else f"{s.reason[:width - 6]}… [{i}]"
        if len(s.reason) > width:
            notes.append(f"[{i}] {s.step}: {s.reason}")
        table.add_row(*([s.tenant] if multi else []), s.step,
                      f"{s.rows_in:,}" if s.rows_in else "",
                      f"{s.rows_quarantined:,}" if s.rows_quarantined else "",
                      f"{s.trained}/{s.promoted}/{s.kept}" if s.trained else "",
                      str(len(s.files)) if s.files else "", f"{s.seconds:.1f}",
                      f"[{colour.get(s.status, 'white')}]{s.status}[/]", _escape(reason))
    console.print(table)
    for note in notes:
        console.print(_escape(note), highlight=False)
    for alert in summary.alerts:
        console.print(f"[bold red]ALERT[/] {_escape(alert)}", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class _DropMessages(logging.Filter):
    """Drop log records whose message contains one of the given fragments."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(f in msg for f in self.fragments)


_NOISE = (
    "Passing a Python object as `python_model`",  # MLflow's cloudpickle warning
    "Hint: Inferred schema contains integer column",  # MLflow's integer-schema hint
    "integer column(s)",
    "Validating input example against model signature",
)
_FILTER = _DropMessages(_NOISE)


VERBOSE_ENV = "OMS_ML_VERBOSE"


def quiet_unless_verbose() -> None:
    """:func:`quiet`, unless ``OMS_ML_VERBOSE=1`` (set by the CLI's ``-v``)."""
    import os

    quiet(os.environ.get(VERBOSE_ENV) != "1")


def quiet(enabled: bool = True) -> None:
    """Hide library noise on a normal run (``enabled=False``: show everything, for ``-v``)."""
    loggers = ("mlflow", "mlflow.models", "mlflow.pyfunc", "mlflow.types.utils",
               "mlflow.models.model", "mlflow.store.db.utils", "alembic")
    import os

    import mlflow.pyfunc  # noqa: F401  (importing it re-enables MLflow's event stream: first)
    from mlflow.utils.logging_utils import disable_logging, enable_logging

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false" if enabled else "true"

    # MLflow prints "Successfully registered model" / "Created version" to its own stream
    (disable_logging if enabled else enable_logging)()
    handlers = [h for name in ("mlflow", "") for h in logging.getLogger(name).handlers]
    if not enabled:
        for target in [*(logging.getLogger(n) for n in loggers), *handlers]:
            target.removeFilter(_FILTER)
        return
    for target in [*(logging.getLogger(n) for n in loggers), *handlers]:
        target.addFilter(_FILTER)  # records propagate to handlers, not ancestors' filters
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration", "prophet", "cmdstanpy",
                 "prefect", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    for category, module in ((UserWarning, "setuptools"), (DeprecationWarning, "setuptools"),
                             (UserWarning, "pkg_resources"), (UserWarning, "mlflow"),
                             (FutureWarning, ""), (DeprecationWarning, "")):
        warnings.filterwarnings("ignore", category=category, module=module)
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    warnings.filterwarnings("ignore", message=".*setuptools.*")
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")


class StepReporter:
    """Live progress of a flow's steps in the terminal (a spinner and elapsed time per step)."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=console or Console(),
                                 transient=True)
        self._tasks: dict[tuple[str, str], int] = {}

    def __enter__(self) -> StepReporter:
        self.progress.start()
        set_reporter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        set_reporter(None)
        self.progress.stop()

    def start(self, step: str, tenant: str) -> None:
        """A step begins."""
        self._tasks[(step, tenant)] = self.progress.add_task(f"{tenant}: {step}", total=None)

    def done(self, result: StepResult) -> None:
        """A step ended: print its one line above the spinners."""
        key = (result.step, result.tenant)
        if key in self._tasks:
            self.progress.remove_task(self._tasks.pop(key))
        colour = {OK: "green", SKIPPED: "yellow", FAILED: "red"}.get(result.status, "white")
        self.progress.console.print(
            f"[{colour}]{result.status:>7}[/] {result.tenant}: {result.step} "
            f"({result.seconds:.1f}s, cpu {result.cpu_seconds:.1f}s) "
            f"{_escape(result.reason)[:140]}")


_REPORTER: StepReporter | None = None


def set_reporter(reporter: StepReporter | None) -> None:
    """Install (or remove) the terminal reporter the flows announce their steps to."""
    global _REPORTER
    _REPORTER = reporter


def announce_start(step: str, tenant: str) -> None:
    """Tell the reporter (if any) that a step starts."""
    if _REPORTER is not None:
        _REPORTER.start(step, tenant)


def announce_done(result: StepResult) -> None:
    """Tell the reporter (if any) that a step ended."""
    if _REPORTER is not None:
        _REPORTER.done(result)
