"""The task registry: lookup by name or paper alias, duplicates refused, plugins by entry point."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

from taskonomy.errors import InvalidInputError, NotFoundError, did_you_mean
from taskonomy.tasks._spec import LOSS_NAMES, OUTPUT_KINDS, TaskSpec

ENTRY_POINT_GROUP = "taskonomy.tasks"


class TaskRegistry:
    """Name → :class:`TaskSpec`, with aliases. Iteration order is registration order."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        self._aliases: dict[str, str] = {}

    def register(self, spec: TaskSpec) -> TaskSpec:
        """Add a task; refuses a name or alias that is already taken."""
        if not isinstance(spec, TaskSpec):
            raise InvalidInputError(f"expected a TaskSpec, got {type(spec).__name__}")
        if spec.output.kind not in OUTPUT_KINDS:
            raise InvalidInputError(f"task {spec.name!r}: output kind {spec.output.kind!r} not in {OUTPUT_KINDS}")
        for loss in (spec.loss, spec.test_loss):
            if loss not in LOSS_NAMES:
                raise InvalidInputError(f"task {spec.name!r}: loss {loss!r} not in {LOSS_NAMES}")
        for key in (spec.name, spec.alias):
            if key in self._tasks or key in self._aliases:
                raise InvalidInputError(f"task name or alias {key!r} is already registered")
        self._tasks[spec.name] = spec
        if spec.alias != spec.name:
            self._aliases[spec.alias] = spec.name
        return spec

    def get(self, name: str) -> TaskSpec:
        """Look a task up by our name or the paper alias."""
        if name in self._tasks:
            return self._tasks[name]
        if name in self._aliases:
            return self._tasks[self._aliases[name]]
        raise NotFoundError("unknown task " + did_you_mean(name, tuple(self._tasks)))

    def canonical(self, name: str) -> str:
        """Our name for ``name`` (which may be an alias)."""
        return self.get(name).name

    def __contains__(self, name: object) -> bool:
        return name in self._tasks or name in self._aliases

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        return list(self._tasks)

    def alias_map(self) -> dict[str, str]:
        """Paper alias → our name, for every task."""
        return {t.alias: t.name for t in self._tasks.values()}

    def load_entry_points(self) -> list[str]:
        """Register tasks that installed packages expose in the ``taskonomy.tasks`` group.

        Each entry point must resolve to a TaskSpec, an iterable of them, or a callable returning
        either. Returns the names added.
        """
        added: list[str] = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            if callable(obj) and not isinstance(obj, TaskSpec):
                obj = obj()
            specs = [obj] if isinstance(obj, TaskSpec) else list(obj)
            for spec in specs:
                if spec.name in self._tasks and self._tasks[spec.name] == spec:
                    continue
                added.append(self.register(spec).name)
        return added
