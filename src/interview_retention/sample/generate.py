"""Realistic sample data in the import format, built from the shipped question bank.

Users come first, then their resumes, then sessions, one JSON object per line (see
`transfer.importer` for the fields). Sessions are spread over the year before
`now` in every status, with answers, evaluations and reports, and with the cases
the deletion jobs care about: soft deletes past and inside their recovery window,
sessions scheduled by the retention rule (some already due) and legal holds.

The same seed and `now` always give the same bytes: every choice comes from one
`random.Random(seed)`, ids included.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from interview_retention.config import Settings
from interview_retention.sessions.questions import BankQuestion, draw

YEAR = timedelta(days=365)

# Shares of ordinary sessions by status: most practice sessions are finished and
# evaluated, a few are abandoned early, and a good share are deleted by their user.
STATUS_WEIGHTS = {
    "CREATED": 6,
    "IN_PROGRESS": 7,
    "COMPLETED": 17,
    "EVALUATED": 55,
    "DELETED": 15,
}
# Of the finished sessions older than the retention period, the share that the
# retention rule has already scheduled; the rest wait for its next run.
SCHEDULED_SHARE = 0.05

# Cases every sample holds at least once (when it has room for them), so that even
# a small file exercises the purge, the recovery window, retention and holds.
SCENARIOS = (
    "CREATED",
    "IN_PROGRESS",
    "COMPLETED",
    "EVALUATED",
    "deleted_due",
    "deleted_in_window",
    "scheduled_due",
    "scheduled_waiting",
    "held",
    "held_deleted",
)

FIRST_NAMES = (
    "Amara", "Ben", "Chiara", "Dmitri", "Elena", "Farah", "Gabriel", "Hana",
    "Ibrahim", "Jonas", "Keiko", "Liam", "Maya", "Nikhil", "Olivia", "Pedro",
    "Qing", "Rosa", "Samuel", "Tereza", "Umar", "Valentina", "Wei", "Ximena",
    "Yusuf", "Zoë", "Aisha", "Bruno", "Camille", "Daniel", "Esther", "Felix",
    "Grace", "Hugo", "Ines", "José", "Kofi", "Laila", "Mateo", "Noor", "Oskar",
    "Priya", "Rafael", "Sofia", "Tomás", "Ulla", "Victor", "Yara",
)  # fmt: skip
LAST_NAMES = (
    "Okafor", "Bergström", "Rossi", "Ivanov", "García", "Haddad", "Silva",
    "Tanaka", "Mensah", "Novak", "Schmidt", "Kowalski", "Nguyen", "Patel",
    "O'Brien", "Costa", "Chen", "Moreau", "Dubois", "Kim", "Andersen", "Hernández",
    "Müller", "Fischer", "Ali", "Yilmaz", "Kaur", "Lindqvist", "Adeyemi", "Park",
    "Santos", "Jansen", "Horvat", "Sato", "Nowak", "Reyes", "Walsh", "Bianchi",
)  # fmt: skip
RESUME_TITLES = (
    "Front-end engineer",
    "Senior front-end engineer",
    "React developer",
    "UI engineer, design systems",
    "Web developer (career change)",
    "Full-stack developer, TypeScript",
    "Front-end lead",
    "Accessibility-focused UI developer",
    "Junior web developer",
    "Mobile web engineer",
)
LABELS = {
    "css": "CSS",
    "javascript": "JavaScript",
    "html": "HTML",
    "general": "general front-end topics",
    "network": "networking",
    "testing": "testing",
    "performance": "performance",
    "fun": "the open questions",
}

OPENERS = (
    "Good question.",
    "Let me think about that for a second.",
    "In my last team this came up a lot.",
    "The short answer is that it depends, but here is how I see it.",
    "I'll start with the basics and then give an example.",
    "I ran into this on a project last year.",
)
CLOSERS = (
    "That's roughly how I'd approach it.",
    "I'd check the details in the spec or on MDN before relying on edge cases.",
    "Happy to go deeper on any part of that.",
    "In code review I'd mostly look for consistency with the rest of the codebase.",
)
POINTS = {
    "css": (
        "Specificity is worked out per selector: ids outweigh classes, which "
        "outweigh element selectors, and the later rule wins a tie.",
        "I try to keep selectors flat, one class per component, so that nothing "
        "depends on where an element sits in the tree.",
        "For layout I reach for flexbox in one dimension and grid in two, and "
        "floats only for wrapping text around an image.",
        "A new stacking context is created by things like opacity below one, a "
        "transform or position with a z-index, so z-index only competes inside it.",
        "I keep a small set of breakpoints as custom properties and design mobile "
        "first, adding complexity in min-width media queries.",
        "The box model decides whether padding and border count towards the width; "
        "I set box-sizing to border-box globally so sizes mean what they say.",
        "With a preprocessor I mostly used variables and mixins, but native custom "
        "properties and nesting now cover most of that.",
        "To hide content visually but keep it for screen readers I use the usual "
        "clip pattern rather than display none.",
    ),
    "javascript": (
        "A closure is a function together with the variables it captured from the "
        "scope it was created in, which is how we get private state.",
        "The value of this depends on how a function is called; arrow functions "
        "take it from the surrounding scope instead.",
        "The event loop runs one task to completion, then drains the microtask "
        "queue, which is why promise callbacks run before the next timeout.",
        "I default to const, use let when a binding really changes, and avoid var "
        "because of its function scope and hoisting.",
        "map returns a new array of the same length while forEach is only for side "
        "effects, so map reads better when I'm transforming data.",
        "Immutable updates make change detection cheap, which is why state "
        "libraries insist on them, at the cost of some copying.",
        "null is an intentional empty value, undefined means nothing was assigned, "
        "and an undeclared variable throws a ReferenceError.",
        "With async and await I wrap the awaited calls in try and catch and make "
        "sure every promise is either awaited or explicitly handled.",
    ),
    "html": (
        "I start from semantic elements, so a button is a button and navigation is "
        "a nav, which gives keyboard and screen reader support for free.",
        "The doctype puts the browser in standards mode; without it you get quirks "
        "mode and old layout rules.",
        "data attributes are fine for hooking behaviour onto markup, but I keep "
        "real state in JavaScript rather than in the DOM.",
        "Scripts go at the end or get defer, so parsing is not blocked, and async "
        "only for independent things like analytics.",
        "For multilingual pages I set the lang attribute, avoid text in images and "
        "leave room in the layout for longer translations.",
        "Progressive enhancement means the page works as plain HTML first and "
        "scripts only improve it.",
    ),
    "general": (
        "I'd measure first with the browser's performance tools, then fix the "
        "biggest cost rather than guessing.",
        "Server-side rendering gives a fast first paint and better SEO, client-side "
        "rendering gives richer interactions; hydration joins the two.",
        "Accessibility for me means keyboard navigation, visible focus, labelled "
        "controls and enough contrast, checked with a screen reader.",
        "Cross-origin requests need the server to send the right CORS headers; the "
        "browser enforces the policy, not the server.",
        "I keep bundles small with code splitting per route and by checking what "
        "each dependency really costs.",
        "For images I use responsive srcset, modern formats and lazy loading below "
        "the fold.",
        "Browsers limit parallel connections per host, which HTTP/2 multiplexing "
        "mostly made irrelevant.",
    ),
    "network": (
        "After DNS resolution and the TCP and TLS handshakes the browser sends the "
        "request, parses the HTML and fetches what it references.",
        "Cache-Control decides who may cache a response and for how long, and an "
        "ETag lets the browser revalidate cheaply.",
        "WebSockets give a two-way channel, server-sent events are one-way over "
        "plain HTTP, and long polling is the fallback when neither works.",
        "A CDN serves assets from a location near the user and takes load off the "
        "origin servers.",
        "GET and HEAD should be safe, PUT and DELETE idempotent, and POST is for "
        "everything that creates or triggers something.",
    ),
    "testing": (
        "Unit tests pin down one function's behaviour; integration tests check that "
        "the pieces work together against real dependencies.",
        "I test behaviour through the public interface rather than implementation "
        "details, so refactoring does not break the suite.",
        "A linter catches whole classes of mistakes before review and keeps style "
        "discussions out of pull requests.",
        "I keep a few end-to-end tests for the critical paths and many fast unit "
        "tests for the logic.",
        "Tests are slower to write up front but pay off the first time a refactor "
        "goes through without a regression.",
    ),
    "performance": (
        "Layout computes geometry, painting fills in pixels and compositing "
        "assembles the layers, so animating transform and opacity is cheapest.",
        "For scrolling I avoid heavy scroll listeners, use passive listeners and "
        "let IntersectionObserver do the visibility work.",
        "I profile with the performance panel and Lighthouse and look at long "
        "tasks and layout shifts first.",
    ),
    "fun": (
        "Recently I built a small offline-first notes app with a service worker, "
        "mostly to learn how caching strategies behave.",
        "I like developer tools that make the feedback loop short, like hot reload "
        "and good source maps.",
        "I follow a few people who write about accessibility and CSS; their posts "
        "changed how I build components.",
        "On the side I maintain a tiny open-source date picker, which taught me a "
        "lot about keyboard support.",
    ),
}
FOLLOW_UP_ANSWERS = (
    "Yes, in the same project: we replaced it gradually, screen by screen.",
    "Mainly by writing a small test first so the behaviour was pinned down.",
    "I'd say the trade-off is readability against a little extra work up front.",
    "Not in production, but I tried it in a side project and read the spec.",
    "We documented it in the team's guidelines so new people picked it up quickly.",
    "The main catch is browser support, so we kept a fallback for older browsers.",
)
STRENGTHS = {
    "css": "Confident with modern layout (flexbox and grid)",
    "javascript": "Clear mental model of closures, scope and the event loop",
    "html": "Writes semantic, accessible markup by default",
    "general": "Measures before optimising and explains trade-offs",
    "network": "Understands caching headers and the request lifecycle",
    "testing": "Tests behaviour rather than implementation details",
    "performance": "Knows the rendering pipeline and what makes it slow",
    "fun": "Shows genuine curiosity through side projects",
}
SUGGESTIONS = {
    "css": "Practise explaining specificity and stacking contexts with examples",
    "javascript": "Review how `this` is bound and how promises are scheduled",
    "html": "Revisit ARIA roles and when native elements make them unnecessary",
    "general": "Prepare one concrete story about an accessibility fix",
    "network": "Go over Cache-Control directives and revalidation with ETags",
    "testing": "Be ready to compare unit, integration and end-to-end tests",
    "performance": "Practise reading a performance profile out loud",
    "fun": "Prepare a short, structured story about a recent project",
}
GENERAL_STRENGTHS = (
    "Structured answers that start with a summary",
    "Uses concrete examples from real projects",
    "Stays calm and thinks aloud when unsure",
)
GENERAL_SUGGESTIONS = (
    "Keep answers shorter and check whether the interviewer wants more detail",
    "Name the trade-offs explicitly before recommending an option",
    "Close each answer with how you would verify the result",
)
FEEDBACK = (
    (8.5, "An excellent session: answers were precise, well structured and backed "
     "by experience."),
    (7.0, "A strong session with solid fundamentals and only a few gaps."),
    (5.5, "A reasonable session; the basics are there but several answers stayed "
     "vague."),
    (0.0, "A difficult session; a number of core topics need more practice."),
)  # fmt: skip
# What `write_sample` returns, in this order.
COUNTED = (
    "users",
    "resumes",
    "sessions",
    "questions",
    "answers",
    "evaluations",
    "reports",
)

HOLD_REASONS = (
    "Litigation hold requested by legal, case 2025-114",
    "Preserved while a data-subject access request is reviewed",
    "Kept for an open complaint investigation",
)


@dataclass
class _User:
    email: str
    name: str
    skill: float
    resumes: list[str] = field(default_factory=list)


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    """A moment in [low, high], to the millisecond."""
    span = max(int((high - low).total_seconds() * 1000), 0)
    return low + timedelta(milliseconds=rng.randint(0, span))


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(milliseconds=int(rng.uniform(low, high) * 60_000))


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _make_users(rng: random.Random, count: int) -> list[_User]:
    users: list[_User] = []
    taken: set[str] = set()
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{_ascii(first)}.{_ascii(last)}"
        email = f"{local}@example.com"
        for n in itertools.count(2):
            if email not in taken:
                break
            email = f"{local}{n}@example.com"
        taken.add(email)
        skill = min(max(rng.gauss(6.6, 1.1), 3.0), 9.5)
        users.append(_User(email=email, name=f"{first} {last}", skill=skill))
    return users


def _line(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_sample(
    path: Path,
    *,
    users: int,
    sessions: int,
    seed: int,
    now: datetime,
    settings: Settings,
) -> dict[str, int]:
    """Write `users` users and `sessions` sessions to `path`; return counts per type.

    Deterministic for a given seed, `now` and periods. Deadlines follow the periods
    of `settings`, so that the file imports under the same settings. Sessions are
    written one at a time, so the file may be far larger than memory.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if users < 1 or sessions < 0:
        raise ValueError("a sample needs at least one user")
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    # Whole milliseconds, as written, so that every line reads back exactly.
    now = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
    counts = dict.fromkeys(COUNTED, 0)
    people = _make_users(rng, users)

    with path.open("w", encoding="utf-8", newline="\n") as out:
        for index, person in enumerate(people):
            # One admin among the users, to exercise the role on import.
            role = "admin" if index == 0 else "user"
            out.write(
                _line(
                    {
                        "type": "user",
                        "email": person.email,
                        "displayName": person.name,
                        "role": role,
                    }
                )
            )
            counts["users"] += 1
        for person in people:
            for _ in range(rng.choice((1, 1, 2))):
                resume_id = _uuid(rng)
                person.resumes.append(resume_id)
                created = now - YEAR - timedelta(days=rng.uniform(1, 120))
                out.write(
                    _line(
                        {
                            "type": "resume",
                            "resumeId": resume_id,
                            "userEmail": person.email,
                            "title": rng.choice(RESUME_TITLES),
                            "createdAt": _ts(created),
                        }
                    )
                )
                counts["resumes"] += 1

        # Some people practise a lot and most a little: a heavy-tailed activity.
        cumulative = list(itertools.accumulate(rng.paretovariate(1.5) for _ in people))
        for kind in _kinds(rng, sessions):
            pick = rng.uniform(0, cumulative[-1])
            person = people[min(bisect.bisect_left(cumulative, pick), len(people) - 1)]
            out.write(_line(_session(rng, kind, person, now, settings, counts)))
            counts["sessions"] += 1
    return counts


def _kinds(rng: random.Random, total: int) -> list[str]:
    """The kind of every session: each scenario once, the rest by status share."""
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    kinds = rng.choices(statuses, weights=weights, k=total)
    forced = list(SCENARIOS[:total])
    for position, kind in zip(
        rng.sample(range(total), len(forced)), forced, strict=True
    ):
        kinds[position] = kind
    return kinds


def _session(
    rng: random.Random,
    kind: str,
    person: _User,
    now: datetime,
    settings: Settings,
    counts: dict[str, int],
) -> dict[str, Any]:
    """One session line of the given kind (a status or a scenario)."""
    plan = _plan(rng, kind, now, settings)
    progress = plan["progress"]
    created: datetime = plan["created"]

    chosen = _config(rng)
    drawn = draw(rng.choice((5, 6, 8, 10)), chosen.get("categories"), rng)
    questions = _questions(rng, drawn)
    answers, clock = _answers(rng, questions, progress, created)
    updated = clock

    completed = evaluated = None
    if progress in ("COMPLETED", "EVALUATED"):
        completed = clock + _minutes(rng, 0.5, 3)
        updated = completed
    if progress == "EVALUATED":
        evaluated = completed + _minutes(rng, 0.3, 15)
        updated = evaluated

    line: dict[str, Any] = {
        "type": "session",
        "sessionId": _uuid(rng),
        "userEmail": person.email,
        "resumeId": rng.choice(person.resumes) if rng.random() < 0.8 else None,
        "status": plan["status"],
        "statusBeforeDeletion": None,
        "questionCount": len(drawn),
        "config": chosen,
        "createdAt": _ts(created),
        "updatedAt": None,
        "completedAt": None if completed is None else _ts(completed),
        "evaluatedAt": None if evaluated is None else _ts(evaluated),
        "deletedAt": None,
        "permanentDeleteAt": None,
        "deletionReason": None,
        "retentionNoticeAt": None,
        "legalHold": False,
        "legalHoldReason": None,
        "legalHoldAt": None,
        "questions": questions,
        "answers": answers,
        "evaluation": None,
        "report": None,
    }
    counts["questions"] += len(questions)
    counts["answers"] += len(answers)

    with_report = progress == "EVALUATED"
    if plan["status"] == "DELETED":
        deleted = max(plan["deleted"], updated + _minutes(rng, 1, 5))
        line["statusBeforeDeletion"] = progress
        line["deletedAt"] = _ts(deleted)
        line["permanentDeleteAt"] = _ts(deleted + settings.recovery_period)
        line["deletionReason"] = "USER"
        # Reports are made when first read; some users never opened theirs.
        with_report = progress == "EVALUATED" and rng.random() < 0.67
        updated = deleted
    if plan.get("notice") is not None:
        notice = max(plan["notice"], updated + _minutes(rng, 1, 5))
        line["retentionNoticeAt"] = _ts(notice)
        line["permanentDeleteAt"] = _ts(notice + settings.grace_period)
        line["deletionReason"] = "RETENTION"
        updated = notice
    if plan.get("hold") is not None:
        held = max(plan["hold"], updated + _minutes(rng, 1, 5))
        line["legalHold"] = True
        line["legalHoldReason"] = rng.choice(HOLD_REASONS)
        line["legalHoldAt"] = _ts(held)
        updated = held
    line["updatedAt"] = _ts(updated)

    if evaluated is not None:
        evaluation = _evaluation(rng, person, questions, evaluated)
        line["evaluation"] = evaluation
        counts["evaluations"] += 1
        if with_report:
            generated = min(evaluated + _minutes(rng, 0.1, 60 * 48), now)
            line["report"] = {
                "content": _report(evaluation, questions, answers, created, evaluated),
                "generatedAt": _ts(generated),
            }
            counts["reports"] += 1
    return line


def _plan(
    rng: random.Random, kind: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Status, how far the interview got, its creation time and lifecycle moments.

    Moments are upper bounds for the deletion, notice and hold: `_session` moves
    each after the interview's own last activity, keeping every timestamp in order.
    The scenarios' moments are set relative to the periods, so that each case stays
    what its name says whatever the settings.
    """
    recovery = settings.recovery_period
    retention = settings.retention_period
    grace = settings.grace_period
    if kind in STATUS_WEIGHTS:
        # Newer sessions are more common: the product grows over the year.
        # At least four hours old, so that the whole interview lies in the past.
        created = now - timedelta(hours=4) - YEAR * rng.random() ** 1.3
        plan: dict[str, Any] = {"status": kind, "progress": kind, "created": created}
        if kind == "DELETED":
            plan["progress"] = _earlier_status(rng)
            delay = timedelta(days=rng.expovariate(1 / 14))
            plan["deleted"] = min(created + delay, now - timedelta(minutes=1))
        elif (
            kind in ("COMPLETED", "EVALUATED")
            and created < now - retention - timedelta(days=10)
            and rng.random() < SCHEDULED_SHARE
        ):
            earliest = max(created + retention, now - timedelta(days=30))
            plan["notice"] = _between(rng, earliest, now - timedelta(hours=1))
        return plan

    # Old enough for a notice sent once the retention period ran out to be past
    # its grace, and for a deletion within 60 days of creation to be past recovery.
    settled = max(retention + grace, recovery + timedelta(days=60))
    old = now - settled - timedelta(days=rng.uniform(23, 268))
    if kind == "deleted_due":
        created = now - recovery - timedelta(days=rng.uniform(10, 335))
        deleted = _between(rng, created + timedelta(hours=3), now - recovery)
        return {
            "status": "DELETED",
            "progress": _earlier_status(rng),
            "created": created,
            "deleted": deleted - timedelta(hours=2),
        }
    if kind == "deleted_in_window":
        deleted = now - recovery * rng.uniform(0.03, 0.83)
        return {
            "status": "DELETED",
            "progress": _earlier_status(rng),
            "created": deleted - timedelta(days=rng.uniform(0.5, 40)),
            "deleted": deleted,
        }
    if kind == "scheduled_due":
        latest = now - grace - timedelta(days=2)
        return {
            "status": "EVALUATED",
            "progress": "EVALUATED",
            "created": old,
            "notice": _between(rng, old + retention, latest),
        }
    if kind == "scheduled_waiting":
        return {
            "status": "COMPLETED",
            "progress": "COMPLETED",
            "created": old,
            "notice": now - grace * rng.uniform(0.15, 0.7),
        }
    if kind == "held":
        return {
            "status": "EVALUATED",
            "progress": "EVALUATED",
            "created": old,
            "hold": _between(rng, old + timedelta(days=2), now - timedelta(days=1)),
        }
    # held_deleted: deleted long ago, its deadline passed while on hold.
    deleted = old + timedelta(days=rng.uniform(1, 60))
    return {
        "status": "DELETED",
        "progress": "EVALUATED",
        "created": old,
        "deleted": deleted,
        "hold": deleted + recovery * rng.uniform(0.03, 0.67),
    }


def _earlier_status(rng: random.Random) -> str:
    return rng.choices(
        ("CREATED", "IN_PROGRESS", "COMPLETED", "EVALUATED"), weights=(10, 15, 25, 50)
    )[0]


def _config(rng: random.Random) -> dict[str, Any]:
    config: dict[str, Any] = {"difficulty": rng.choice(("junior", "mid", "senior"))}
    if rng.random() < 0.45:
        pool = ("javascript", "css", "html", "general", "network")
        picked = rng.sample(pool, rng.randint(1, 3))
        config["categories"] = sorted(picked)
    return config


def _questions(rng: random.Random, drawn: list[BankQuestion]) -> list[dict[str, Any]]:
    """The drawn questions in order, each followed by its follow-ups."""
    rows: list[dict[str, Any]] = []
    for item in drawn:
        parent = _uuid(rng)
        rows.append(_question(parent, None, len(rows), "ORIGINAL", item.category))
        rows[-1]["text"] = item.text
        for text in item.follow_ups:
            rows.append(
                _question(_uuid(rng), parent, len(rows), "FOLLOW_UP", item.category)
            )
            rows[-1]["text"] = text
    return rows


def _question(
    question_id: str, parent: str | None, position: int, kind: str, category: str
) -> dict[str, Any]:
    return {
        "questionId": question_id,
        "parentQuestionId": parent,
        "position": position,
        "questionType": kind,
        "category": category,
        "text": "",
    }


def _answers(
    rng: random.Random,
    questions: list[dict[str, Any]],
    progress: str,
    created: datetime,
) -> tuple[list[dict[str, Any]], datetime]:
    """Answers as far as the interview got, and the time of its last activity."""
    clock = created + _minutes(rng, 0.5, 3)
    if progress == "CREATED":
        return [], created
    answered = len(questions)
    if progress == "IN_PROGRESS":
        answered = rng.randint(1, max(len(questions) - 1, 1))

    answers = []
    for question in questions[:answered]:
        # Now and then a candidate skips a follow-up.
        if question["questionType"] == "FOLLOW_UP" and rng.random() < 0.1:
            continue
        clock += _minutes(rng, 1.5, 7)
        answers.append(
            {
                "answerId": _uuid(rng),
                "questionId": question["questionId"],
                "text": _answer_text(rng, question),
                "submittedAt": _ts(clock),
            }
        )
    return answers, clock


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{5,}", text.lower()))


def _answer_text(rng: random.Random, question: dict[str, Any]) -> str:
    """Two to four sentences, led by the point that shares most words with the
    question, so that an answer about z-index talks about stacking contexts."""
    if question["questionType"] == "FOLLOW_UP":
        return rng.choice(FOLLOW_UP_ANSWERS)
    asked = _words(question["text"])
    points = sorted(
        POINTS[question["category"]],
        key=lambda point: (-len(asked & _words(point)), rng.random()),
    )
    chosen = points[:1] + rng.sample(
        points[1:], min(len(points) - 1, rng.randint(0, 2))
    )
    parts = []
    if rng.random() < 0.5:
        parts.append(rng.choice(OPENERS))
    parts.extend(chosen)
    if rng.random() < 0.4:
        parts.append(rng.choice(CLOSERS))
    return " ".join(parts)


def _evaluation(
    rng: random.Random,
    person: _User,
    questions: list[dict[str, Any]],
    evaluated: datetime,
) -> dict[str, Any]:
    overall = round(min(max(rng.gauss(person.skill, 0.8), 1.0), 10.0), 1)
    categories = sorted({q["category"] for q in questions})
    scores = {
        c: round(min(max(rng.gauss(overall, 1.0), 1.0), 10.0), 1) for c in categories
    }
    ranked = sorted(categories, key=lambda c: (-scores[c], c))
    best, weakest = ranked[0], ranked[-1]
    feedback = next(text for floor, text in FEEDBACK if overall >= floor)
    if len(ranked) > 1:
        feedback += (
            f" The strongest area was {LABELS[best]};"
            f" {LABELS[weakest]} needs the most work."
        )
    strengths = [STRENGTHS[c] for c in ranked[:2]]
    strengths.append(rng.choice(GENERAL_STRENGTHS))
    suggestions = [SUGGESTIONS[c] for c in reversed(ranked[-2:])]
    suggestions.append(rng.choice(GENERAL_SUGGESTIONS))
    return {
        "overallScore": overall,
        "feedback": feedback,
        "categoryScores": scores,
        "strengths": strengths,
        "improvementSuggestions": suggestions,
        "createdAt": _ts(evaluated),
    }


def _report(
    evaluation: dict[str, Any],
    questions: list[dict[str, Any]],
    answers: list[dict[str, Any]],
    created: datetime,
    evaluated: datetime,
) -> dict[str, Any]:
    minutes = round((evaluated - created).total_seconds() / 60)
    score = evaluation["overallScore"]
    if score >= 7.0:
        recommendation = "Ready for real interviews at this level"
    elif score >= 5.5:
        recommendation = "One or two more practice sessions on the weaker areas"
    else:
        recommendation = "Review the fundamentals before the next session"
    return {
        "title": "Front-end interview practice report",
        "summary": evaluation["feedback"],
        "overallScore": score,
        "categoryScores": evaluation["categoryScores"],
        "questionsAsked": len(questions),
        "questionsAnswered": len(answers),
        "durationMinutes": minutes,
        "strengths": evaluation["strengths"],
        "improvementSuggestions": evaluation["improvementSuggestions"],
        "recommendation": recommendation,
    }
