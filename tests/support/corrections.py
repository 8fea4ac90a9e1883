"""Corrections the corrections tests store: a brand's slang the built-in model misreads (written by us)."""

from __future__ import annotations

from models.corrections import Correction

#: The built-in model reads Acme's customers' slang as a complaint ("sick", "filthy"); they mean it is great.
SLANG = "@acme this update is sick, absolutely filthy speeds {n}"


def slang_corrections(count: int, *, held_as_model_says: set[int] | None = None) -> list[Correction]:
    """Return `count` corrections of the slang posts to positive praise (the ids given as the model reads them)."""
    out = []
    for n in range(1, count + 1):
        as_model = held_as_model_says is not None and n in held_as_model_says
        out.append(Correction(id=n, text=SLANG.format(n=n), sentiment="negative" if as_model else "positive",
                              complaint=as_model, language="en"))
    return out
