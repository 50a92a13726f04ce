"""A session's report as a PDF: its questions and answers, the evaluation and the
generated report, laid out with reportlab's platypus.

Everything a user wrote is escaped before it reaches Paragraph markup, and long
texts are cut into one paragraph per line, which platypus splits across pages.
Text is set in the Bitstream Vera fonts that ship inside reportlab, embedded as
TrueType subsets, so accented letters print and a PDF reader (or pypdf) can
extract the text again. Vera covers Western European scripts only (283
characters); for any other character (a check mark, Greek, Cyrillic) the
document switches to DejaVu Sans where the system has it (Debian's
fonts-dejavu-core, installed in the Docker image). A character neither font has
(CJK, most emoji), or any character Vera lacks on a system without DejaVu,
prints as an empty box and cannot be extracted.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer

from interview_retention.clock import UTC
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)

FONT = "Vera"
FALLBACK_FONT = "DejaVuSans"
FALLBACK_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
NO_ANSWER = "No answer"
NO_QUESTIONS = "No questions were asked in this session."
NO_EVALUATION = "No evaluation yet: this session has not been evaluated."
NO_REPORT = "No report generated."

# Control characters other than tab and newline mean nothing on paper, and some
# of them break the markup parser.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Nested report content deeper than this is printed as JSON text instead.
_MAX_DEPTH = 4


@lru_cache
def _fonts() -> tuple[frozenset[int], frozenset[int]]:
    """Register the fonts once; the characters Vera draws, and those the
    fallback draws (none when the system has no DejaVu Sans)."""
    # reportlab finds the Vera files in its own fonts folder (rl_config's
    # TTFSearchPath); registering a family lets <b> and <i> pick the right face.
    faces = {"": "Vera", "Bd": "VeraBd", "It": "VeraIt", "BI": "VeraBI"}
    for suffix, file in faces.items():
        pdfmetrics.registerFont(TTFont(FONT + suffix, f"{file}.ttf"))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT + "Bd", italic=FONT + "It", boldItalic=FONT + "BI"
    )
    vera = pdfmetrics.getFont(FONT)
    covered = frozenset(vera.face.charToGlyph)

    fallback: frozenset[int] = frozenset()
    found = next((f for f in FALLBACK_FILES if f.is_file()), None)
    if found is not None:
        font = TTFont(FALLBACK_FONT, str(found))
        pdfmetrics.registerFont(font)
        fallback = frozenset(font.face.charToGlyph)
    return covered, fallback


@lru_cache
def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    body = ParagraphStyle(
        "body",
        fontName=FONT,
        fontSize=10,
        leading=13.5,
        alignment=TA_LEFT,
        spaceAfter=3,
        splitLongWords=True,
    )
    return {
        "title": ParagraphStyle(
            "title", parent=body, fontName=FONT + "Bd", fontSize=18, leading=22
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontName=FONT + "Bd",
            fontSize=13,
            leading=17,
            spaceBefore=10,
            spaceAfter=5,
        ),
        "question": ParagraphStyle(
            "question", parent=body, fontName=FONT + "Bd", spaceBefore=6
        ),
        "meta": ParagraphStyle(
            "meta", parent=body, fontSize=8.5, leading=11, textColor="#555555"
        ),
        "body": body,
        "answer": ParagraphStyle("answer", parent=body, leftIndent=5 * mm),
        "bullet": ParagraphStyle(
            "bullet", parent=body, leftIndent=5 * mm, bulletIndent=1 * mm
        ),
    }


def text(value: object) -> str:
    """Any value as Paragraph markup that shows exactly that text."""
    cleaned = _CONTROL.sub("", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    covered, fallback = _fonts()
    # One <font> tag per run of characters only the fallback draws, not one per
    # character: laying out a paragraph costs more the more tags it has, and a
    # line of Cyrillic or Greek took seconds. A space both fonts draw stays in
    # the run it is in.
    out = []
    run: list[str] = []
    for char in cleaned:
        code = ord(char)
        if code in covered or code == 10 or code not in fallback:
            if run and char == " ":
                run.append(char)
                continue
            if run:
                out.append(_fallback_run(run))
                run = []
            out.append(escape(char))
        else:
            run.append(char)
    if run:
        out.append(_fallback_run(run))
    return "".join(out)


def _fallback_run(run: list[str]) -> str:
    body = "".join(run)
    # A trailing space goes back to the main font, so the run ends on a glyph.
    trailing = len(body) - len(body.rstrip(" "))
    tag = f'<font name="{FALLBACK_FONT}">{escape(body.rstrip(" "))}</font>'
    return tag + " " * trailing


def _lines(value: object, style: ParagraphStyle) -> Iterator[Paragraph]:
    # One paragraph per line: platypus splits a long paragraph across pages, but
    # the cost of laying one out grows with its length, and a 20,000-character
    # answer is usually many lines.
    for line in text(value).split("\n"):
        yield Paragraph(line or "&nbsp;", style)


def _instant(value: datetime | None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is None:  # SQLite hands back naive UTC.
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _score(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def filename(session: InterviewSession) -> str:
    """`interview-report-<created date>-<short id>.pdf`, safe in a header."""
    created = session.created_at
    day = created.strftime("%Y-%m-%d") if created else "undated"
    short = re.sub(r"[^A-Za-z0-9]", "", session.id)[:8] or "session"
    return f"interview-report-{day}-{short}.pdf"


def _summary(session: InterviewSession, now: datetime) -> Iterator[Flowable]:
    s = _styles()
    rows = [
        ("Session", session.id),
        ("Status", session.status),
        ("Created", _instant(session.created_at)),
        ("Completed", _instant(session.completed_at)),
        ("Evaluated", _instant(session.evaluated_at)),
    ]
    if session.status == "DELETED":
        rows.append(("Deleted", _instant(session.deleted_at)))
    if session.permanent_delete_at is not None:
        rows.append(("Permanent deletion", _instant(session.permanent_delete_at)))
    rows.append(("Exported", _instant(now)))
    for label, value in rows:
        yield Paragraph(f"<b>{text(label)}:</b> {text(value)}", s["body"])


def _thread(questions: Iterable[Question]) -> list[tuple[Question, list[Question]]]:
    """Original questions in order, each with its follow-ups in order."""
    ordered = sorted(questions, key=lambda q: (q.position, q.id))
    ids = {q.id for q in ordered}
    follow_ups: dict[str, list[Question]] = defaultdict(list)
    roots = []
    for question in ordered:
        if question.parent_question_id in ids:
            follow_ups[question.parent_question_id].append(question)
        else:
            roots.append(question)
    return [(root, follow_ups[root.id]) for root in roots]


def _question(
    label: str, question: Question, answers: list[Answer]
) -> Iterator[Flowable]:
    s = _styles()
    kind = "follow-up" if question.question_type == "FOLLOW_UP" else "question"
    category = f"{question.category} · {kind}" if question.category else kind
    yield Paragraph(f"{text(label)} {text(question.text)}", s["question"])
    yield Paragraph(text(category), s["meta"])
    if not answers:
        yield Paragraph(f"<i>{NO_ANSWER}</i>", s["answer"])
    for answer in answers:
        yield from _lines(answer.text, s["answer"])


def _questions(session: InterviewSession) -> Iterator[Flowable]:
    s = _styles()
    yield Paragraph("Questions and answers", s["h2"])
    answers: dict[str, list[Answer]] = defaultdict(list)
    for answer in session.answers:
        answers[answer.question_id].append(answer)

    thread = _thread(session.questions)
    if not thread:
        yield Paragraph(NO_QUESTIONS, s["body"])
    for number, (question, follow_ups) in enumerate(thread, start=1):
        yield from _question(f"{number}.", question, answers[question.id])
        for letter, follow_up in enumerate(follow_ups):
            label = f"{number}.{letter + 1}"
            yield from _question(label, follow_up, answers[follow_up.id])


def _bullets(items: Iterable[object]) -> Iterator[Flowable]:
    s = _styles()
    for item in items:
        yield Paragraph(text(item), s["bullet"], bulletText="•")


def _evaluation(evaluation: Evaluation | None) -> Iterator[Flowable]:
    s = _styles()
    yield Paragraph("Evaluation", s["h2"])
    if evaluation is None:
        yield Paragraph(NO_EVALUATION, s["body"])
        return

    yield Paragraph(
        f"<b>Overall score:</b> {text(_score(evaluation.overall_score))}", s["body"]
    )
    scores = evaluation.category_scores
    if scores:
        yield Paragraph("<b>Category scores</b>", s["body"])
        if isinstance(scores, dict):
            yield from _bullets(
                f"{name}: {_score(score)}" for name, score in scores.items()
            )
        else:  # Not written by this service; printed as it is.
            yield from _content(scores, 1)
    if evaluation.feedback:
        yield Paragraph("<b>Feedback</b>", s["body"])
        yield from _lines(evaluation.feedback, s["body"])
    yield Paragraph("<b>Strengths</b>", s["body"])
    yield from _bullets(_listed(evaluation.strengths))
    yield Paragraph("<b>Improvement suggestions</b>", s["body"])
    yield from _bullets(_listed(evaluation.improvement_suggestions))


def _listed(value: Any) -> list[Any]:
    if not value:
        return ["None recorded"]
    return [_plain(item) for item in value] if isinstance(value, list) else [value]


def _content(value: Any, depth: int) -> Iterator[Flowable]:
    """The report's JSON content as labelled lines and bullets, indented by depth."""
    s = _styles()
    style = ParagraphStyle(
        f"content{depth}", parent=s["body"], leftIndent=depth * 5 * mm
    )
    if depth >= _MAX_DEPTH and isinstance(value, dict | list):
        yield from _lines(json.dumps(value, ensure_ascii=False, indent=1), style)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                yield Paragraph(f"<b>{text(key)}</b>", style)
                yield from _content(item, depth + 1)
            else:
                yield Paragraph(f"<b>{text(key)}:</b> {text(_plain(item))}", style)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                yield from _content(item, depth + 1)
            else:
                yield Paragraph(text(_plain(item)), style, bulletText="•")
    else:
        yield from _lines(_plain(value), style)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return _score(value)


def _report(report: Report | None) -> Iterator[Flowable]:
    s = _styles()
    yield Paragraph("Generated report", s["h2"])
    if report is None or not report.content:
        yield Paragraph(NO_REPORT, s["body"])
        return
    yield Paragraph(f"Generated {_instant(report.generated_at)}", s["meta"])
    yield from _content(report.content, 0)


def render(
    session: InterviewSession,
    *,
    evaluation: Evaluation | None,
    report: Report | None,
    now: datetime,
) -> bytes:
    """The PDF of one session, loaded with its questions and answers.

    The evaluation and report are passed in, so the caller decides how they are
    read; either may be missing, and the document then says so.
    """
    s = _styles()
    story: list[Flowable] = [
        Paragraph("Interview practice report", s["title"]),
        Spacer(1, 3 * mm),
        *_summary(session, now),
        *_questions(session),
        *_evaluation(evaluation),
        *_report(report),
    ]

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title="Interview practice report",
        author="interview-retention",
    )
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def _footer(canvas: Any, document: Any) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {document.page}")
    canvas.restoreState()
