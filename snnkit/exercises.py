"""Exercise checkers: each says right, wrong (with a hint) or not solved yet, and never raises.

A stub is a function whose body is ``...`` (it returns ``None``) or raises
``NotImplementedError``; the checker then prints what is missing, so a headless run of an
unsolved notebook goes on.
"""

from __future__ import annotations

import torch

SOLVED, WRONG, UNSOLVED = "right", "wrong", "not solved yet"


def check(answer, reference, *args, hint: str = "", atol: float = 1e-5, name="exercise",
          **kwargs) -> str:
    """Compare ``answer`` (a function, or a value) with ``reference`` (a function or value).

    Functions are called on ``args``/``kwargs``; results (tensors, numbers, tuples of them) must
    match to ``atol``. Prints and returns ``"right"``, ``"wrong"`` or ``"not solved yet"``.
    """
    try:
        got = answer(*args, **kwargs) if callable(answer) else answer
    except NotImplementedError:
        got = None
    except Exception as err:  # a learner's bug: report it, do not stop the notebook
        print(f"{name}: wrong - your code raised {type(err).__name__}: {err}. {hint}")
        return WRONG
    if got is None or got is Ellipsis:
        print(f"{name}: not solved yet - replace the `...` with your code. {hint}")
        return UNSOLVED
    want = reference(*args, **kwargs) if callable(reference) else reference
    if _close(got, want, atol):
        print(f"{name}: right!")
        return SOLVED
    print(f"{name}: wrong - {hint}")
    return WRONG


def _close(got, want, atol) -> bool:
    if isinstance(want, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(want)
                and all(_close(g, w, atol) for g, w in zip(got, want, strict=True)))
    try:
        got, want = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want,
                                                                               dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return got == want
    return got.shape == want.shape and bool(torch.allclose(got, want, atol=atol, rtol=0))
