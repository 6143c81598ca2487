from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_KIND_UNSPECIFIED: _ClassVar[TransferKind]
    TRANSFER_KIND_FIRST_ORDER: _ClassVar[TransferKind]
    TRANSFER_KIND_HIGHER_ORDER: _ClassVar[TransferKind]
    TRANSFER_KIND_SELF_FULL_SUPERVISION: _ClassVar[TransferKind]
    TRANSFER_KIND_OWN_ENCODER_SMALL_DATA: _ClassVar[TransferKind]
    TRANSFER_KIND_RANDOM_ENCODER: _ClassVar[TransferKind]
    TRANSFER_KIND_PIXELS_SCRATCH_BASELINE: _ClassVar[TransferKind]

class Objective(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECTIVE_UNSPECIFIED: _ClassVar[Objective]
    OBJECTIVE_AFFINITY: _ClassVar[Objective]
    OBJECTIVE_GAIN: _ClassVar[Objective]
    OBJECTIVE_QUALITY: _ClassVar[Objective]

class SolutionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOLUTION_STATUS_UNSPECIFIED: _ClassVar[SolutionStatus]
    SOLUTION_STATUS_OPTIMAL: _ClassVar[SolutionStatus]
    SOLUTION_STATUS_INFEASIBLE: _ClassVar[SolutionStatus]
TRANSFER_KIND_UNSPECIFIED: TransferKind
TRANSFER_KIND_FIRST_ORDER: TransferKind
TRANSFER_KIND_HIGHER_ORDER: TransferKind
TRANSFER_KIND_SELF_FULL_SUPERVISION: TransferKind
TRANSFER_KIND_OWN_ENCODER_SMALL_DATA: TransferKind
TRANSFER_KIND_RANDOM_ENCODER: TransferKind
TRANSFER_KIND_PIXELS_SCRATCH_BASELINE: TransferKind
OBJECTIVE_UNSPECIFIED: Objective
OBJECTIVE_AFFINITY: Objective
OBJECTIVE_GAIN: Objective
OBJECTIVE_QUALITY: Objective
SOLUTION_STATUS_UNSPECIFIED: SolutionStatus
SOLUTION_STATUS_OPTIMAL: SolutionStatus
SOLUTION_STATUS_INFEASIBLE: SolutionStatus

class ComputeAffinityRequest(_message.Message):
    __slots__ = ("targets", "bootstrap", "seed", "confidence")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[AffinityTarget]
    bootstrap: int
    seed: int
    confidence: float
    def __init__(self, targets: _Optional[_Iterable[_Union[AffinityTarget, _Mapping]]] = ..., bootstrap: _Optional[int] = ..., seed: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class AffinityTarget(_message.Message):
    __slots__ = ("target", "candidates")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    target: str
    candidates: _containers.RepeatedCompositeFieldContainer[AffinityCandidate]
    def __init__(self, target: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[AffinityCandidate, _Mapping]]] = ...) -> None: ...

class AffinityCandidate(_message.Message):
    __slots__ = ("sources", "kind", "losses", "win_rates")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    WIN_RATES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedScalarFieldContainer[str]
    kind: TransferKind
    losses: _containers.RepeatedScalarFieldContainer[float]
    win_rates: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, sources: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[TransferKind, str]] = ..., losses: _Optional[_Iterable[float]] = ..., win_rates: _Optional[_Iterable[float]] = ...) -> None: ...

class ComputeAffinityResponse(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[TargetAffinity]
    def __init__(self, targets: _Optional[_Iterable[_Union[TargetAffinity, _Mapping]]] = ...) -> None: ...

class TargetAffinity(_message.Message):
    __slots__ = ("target", "candidates", "consistency_ratio")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    target: str
    candidates: _containers.RepeatedCompositeFieldContainer[CandidateAffinity]
    consistency_ratio: float
    def __init__(self, target: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[CandidateAffinity, _Mapping]]] = ..., consistency_ratio: _Optional[float] = ...) -> None: ...

class CandidateAffinity(_message.Message):
    __slots__ = ("sources", "kind", "affinity", "gain", "quality", "affinity_low", "affinity_high", "gain_low", "gain_high", "quality_low", "quality_high", "win_rates")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    GAIN_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_LOW_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_HIGH_FIELD_NUMBER: _ClassVar[int]
    GAIN_LOW_FIELD_NUMBER: _ClassVar[int]
    GAIN_HIGH_FIELD_NUMBER: _ClassVar[int]
    QUALITY_LOW_FIELD_NUMBER: _ClassVar[int]
    QUALITY_HIGH_FIELD_NUMBER: _ClassVar[int]
    WIN_RATES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedScalarFieldContainer[str]
    kind: TransferKind
    affinity: float
    gain: float
    quality: float
    affinity_low: float
    affinity_high: float
    gain_low: float
    gain_high: float
    quality_low: float
    quality_high: float
    win_rates: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, sources: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[TransferKind, str]] = ..., affinity: _Optional[float] = ..., gain: _Optional[float] = ..., quality: _Optional[float] = ..., affinity_low: _Optional[float] = ..., affinity_high: _Optional[float] = ..., gain_low: _Optional[float] = ..., gain_high: _Optional[float] = ..., quality_low: _Optional[float] = ..., quality_high: _Optional[float] = ..., win_rates: _Optional[_Iterable[float]] = ...) -> None: ...

class TransferTable(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[TransferRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[TransferRow, _Mapping]]] = ...) -> None: ...

class TransferRow(_message.Message):
    __slots__ = ("target", "sources", "kind", "affinity", "gain", "quality", "affinity_low", "affinity_high")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    GAIN_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_LOW_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_HIGH_FIELD_NUMBER: _ClassVar[int]
    target: str
    sources: _containers.RepeatedScalarFieldContainer[str]
    kind: TransferKind
    affinity: float
    gain: float
    quality: float
    affinity_low: float
    affinity_high: float
    def __init__(self, target: _Optional[str] = ..., sources: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[TransferKind, str]] = ..., affinity: _Optional[float] = ..., gain: _Optional[float] = ..., quality: _Optional[float] = ..., affinity_low: _Optional[float] = ..., affinity_high: _Optional[float] = ...) -> None: ...

class TaskList(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tasks: _Optional[_Iterable[str]] = ...) -> None: ...

class TaxonomyProblem(_message.Message):
    __slots__ = ("targets", "source_only", "target_only", "budget", "max_order", "objective", "supervision_cost", "transfer_cost", "task_value")
    class SupervisionCostEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TransferCostEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TaskValueEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    TARGET_ONLY_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDER_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    SUPERVISION_COST_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_COST_FIELD_NUMBER: _ClassVar[int]
    TASK_VALUE_FIELD_NUMBER: _ClassVar[int]
    targets: TaskList
    source_only: TaskList
    target_only: _containers.RepeatedScalarFieldContainer[str]
    budget: float
    max_order: int
    objective: Objective
    supervision_cost: _containers.ScalarMap[str, float]
    transfer_cost: _containers.ScalarMap[str, float]
    task_value: _containers.ScalarMap[str, float]
    def __init__(self, targets: _Optional[_Union[TaskList, _Mapping]] = ..., source_only: _Optional[_Union[TaskList, _Mapping]] = ..., target_only: _Optional[_Iterable[str]] = ..., budget: _Optional[float] = ..., max_order: _Optional[int] = ..., objective: _Optional[_Union[Objective, str]] = ..., supervision_cost: _Optional[_Mapping[str, float]] = ..., transfer_cost: _Optional[_Mapping[str, float]] = ..., task_value: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TaxonomyEdge(_message.Message):
    __slots__ = ("target", "sources", "affinity", "gain", "quality", "value")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_FIELD_NUMBER: _ClassVar[int]
    GAIN_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    target: str
    sources: _containers.RepeatedScalarFieldContainer[str]
    affinity: float
    gain: float
    quality: float
    value: float
    def __init__(self, target: _Optional[str] = ..., sources: _Optional[_Iterable[str]] = ..., affinity: _Optional[float] = ..., gain: _Optional[float] = ..., quality: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class TaxonomySolution(_message.Message):
    __slots__ = ("status", "objective", "roots", "edges", "solve_time_s", "reason", "budget", "max_order", "objective_name", "cost", "supervised", "backend")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDER_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_NAME_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    SUPERVISED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    status: SolutionStatus
    objective: float
    roots: _containers.RepeatedScalarFieldContainer[str]
    edges: _containers.RepeatedCompositeFieldContainer[TaxonomyEdge]
    solve_time_s: float
    reason: str
    budget: float
    max_order: int
    objective_name: Objective
    cost: float
    supervised: _containers.RepeatedScalarFieldContainer[str]
    backend: str
    def __init__(self, status: _Optional[_Union[SolutionStatus, str]] = ..., objective: _Optional[float] = ..., roots: _Optional[_Iterable[str]] = ..., edges: _Optional[_Iterable[_Union[TaxonomyEdge, _Mapping]]] = ..., solve_time_s: _Optional[float] = ..., reason: _Optional[str] = ..., budget: _Optional[float] = ..., max_order: _Optional[int] = ..., objective_name: _Optional[_Union[Objective, str]] = ..., cost: _Optional[float] = ..., supervised: _Optional[_Iterable[str]] = ..., backend: _Optional[str] = ...) -> None: ...

class SolveTaxonomyRequest(_message.Message):
    __slots__ = ("table_name", "transfer_table", "problem")
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_TABLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    table_name: str
    transfer_table: TransferTable
    problem: TaxonomyProblem
    def __init__(self, table_name: _Optional[str] = ..., transfer_table: _Optional[_Union[TransferTable, _Mapping]] = ..., problem: _Optional[_Union[TaxonomyProblem, _Mapping]] = ...) -> None: ...

class SolveTaxonomyResponse(_message.Message):
    __slots__ = ("solution",)
    SOLUTION_FIELD_NUMBER: _ClassVar[int]
    solution: TaxonomySolution
    def __init__(self, solution: _Optional[_Union[TaxonomySolution, _Mapping]] = ...) -> None: ...

class SweepBudgetsRequest(_message.Message):
    __slots__ = ("table_name", "transfer_table", "problem", "budgets")
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_TABLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    table_name: str
    transfer_table: TransferTable
    problem: TaxonomyProblem
    budgets: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, table_name: _Optional[str] = ..., transfer_table: _Optional[_Union[TransferTable, _Mapping]] = ..., problem: _Optional[_Union[TaxonomyProblem, _Mapping]] = ..., budgets: _Optional[_Iterable[float]] = ...) -> None: ...

class SweepBudgetsResponse(_message.Message):
    __slots__ = ("solutions",)
    SOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    solutions: _containers.RepeatedCompositeFieldContainer[TaxonomySolution]
    def __init__(self, solutions: _Optional[_Iterable[_Union[TaxonomySolution, _Mapping]]] = ...) -> None: ...
