"""What a benchmark run measured: figures next to their goals, and the details behind them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: reported only, or not measured
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "—"}[self.met]


@dataclass
class Results:
    """Everything one run measured."""

    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(
            f"  {figure.name}: {figure.value}  [{figure.goal or 'reported'}: {figure.verdict}]"
            + (f"  ({figure.note})" if figure.note else ""),
            flush=True,
        )
