"""The bank of interview questions that new sessions draw from."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class BankQuestion:
    category: str
    text: str
    follow_ups: tuple[str, ...]


@lru_cache
def question_bank() -> tuple[BankQuestion, ...]:
    """Front-end questions from h5bp (MIT), shipped with the package."""
    raw = resources.files("interview_retention.sample").joinpath(
        "data/interview-questions.json"
    )
    payload = json.loads(raw.read_text(encoding="utf-8"))
    return tuple(
        BankQuestion(q["category"], q["question"], tuple(q.get("followUps", ())))
        for q in payload["questions"]
    )


def categories() -> list[str]:
    return sorted({q.category for q in question_bank()})


def draw(
    count: int, categories: list[str] | None, rng: random.Random
) -> list[BankQuestion]:
    """`count` distinct questions, from the given categories when there are any."""
    pool = [q for q in question_bank() if not categories or q.category in categories]
    return rng.sample(pool, min(count, len(pool)))
