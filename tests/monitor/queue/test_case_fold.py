"""Cases (issue 13): the state of a case folded from its posts (`fold`, pure), business minutes, and the figures.

The stored, live side is in tests/monitor/queue/test_cases.py and tests/monitor/pipeline/test_cases_live.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.queue.cases import CaseRecord, Post, case_figures, fold, is_thanks
from monitor.queue.sla import business_minutes_between

T0 = datetime(2017, 10, 31, 9, 0, tzinfo=UTC)


def _p(post_id: str, minutes: float, text: str = "@AmazonHelp my parcel never came", *, author: str = "jo",
       parent: str | None = None, brand: bool = False, sentiment: str | None = None) -> Post:
    return Post(id=post_id, author="AmazonHelp" if brand else author, at=T0 + timedelta(minutes=minutes),
                text=text, parent_id=parent, from_brand=brand, sentiment=sentiment)


# -- the fold: a case's state from its posts ------------------------------------------------------------------

def test_a_thread_with_follow_ups_and_brand_replies_folds_to_one_resolved_case() -> None:
    posts = [_p("1", 0), _p("2", 12, "Sorry Jo, DM us", parent="1", brand=True), _p("3", 20, "sent", parent="2"),
             _p("4", 31, "Refund issued", parent="3", brand=True), _p("5", 40, "thanks!", parent="4")]
    state = fold(list(reversed(posts)), auto_resolve_h=72, now=T0 + timedelta(hours=1))  # any order
    assert (state.status, state.resolved_by, state.resolved_at) == ("resolved", "customer", T0 + timedelta(minutes=40))
    assert state.first_response_at == T0 + timedelta(minutes=12)
    assert (state.post_count, state.brand_reply_count, state.last_brand_at) == (3, 2, T0 + timedelta(minutes=31))


def test_silence_after_the_brand_resolves_and_a_new_post_reopens() -> None:
    answered = [_p("1", 0), _p("2", 5, "Try a restart", parent="1", brand=True)]
    quiet = fold(answered, auto_resolve_h=2, now=T0 + timedelta(hours=3))
    assert (quiet.status, quiet.resolved_by, quiet.resolved_at) == ("resolved", "silence", T0 + timedelta(minutes=125))
    assert fold(answered, auto_resolve_h=2, now=T0 + timedelta(hours=1)).status == "replied"
    again = fold([*answered, _p("3", 60 * 5, "it broke again")], auto_resolve_h=2, now=T0 + timedelta(hours=6))
    assert (again.status, again.resolved_at) == ("open", None)


def test_thanks_reads_as_thanks_only_when_it_is() -> None:
    assert is_thanks("that worked, thank you!") and is_thanks("Sorted now, cheers")
    assert not is_thanks("thanks for nothing") and not is_thanks("still broken, thanks")
    assert not is_thanks("thanks a lot, now it is worse", "negative")
    thanked_first = fold([_p("1", 0, "@Kestrel thanks for the upgrade!")], auto_resolve_h=72, now=T0)
    assert thanked_first.status == "open"  # no brand reply yet: a thank-you to answer, not a resolution


def test_a_persons_resolution_stands_until_the_customer_posts_again() -> None:
    posts = [_p("1", 0)]
    by_ana = ("responder", T0 + timedelta(minutes=5))
    kept = fold(posts, auto_resolve_h=72, now=T0, kept=by_ana)
    assert (kept.status, kept.resolved_by) == ("resolved", "responder")
    later = fold([*posts, _p("2", 10, "hello?")], auto_resolve_h=72, now=T0, kept=by_ana)
    assert later.status == "open"
    dismissed = fold([*posts, _p("2", 10, "hello?")], auto_resolve_h=72, now=T0,
                     kept=("not_relevant", T0 + timedelta(minutes=5)))
    assert (dismissed.status, dismissed.resolved_by) == ("resolved", "not_relevant")


def test_business_minutes_count_only_the_working_day() -> None:
    friday_late = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    monday = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
    hours = ("09:00", "17:00")
    assert business_minutes_between(friday_late, monday, hours=hours, days=[0, 1, 2, 3, 4], timezone="UTC") == 75
    assert business_minutes_between(monday, friday_late, hours=hours, days=[0, 1, 2, 3, 4], timezone="UTC") == 0
    london_summer = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # 08:30 in London
    assert business_minutes_between(london_summer, london_summer + timedelta(hours=2), hours=hours,
                                    days=[2], timezone="Europe/London") == 90


def test_case_figures_over_stored_style_records() -> None:
    def record(case_id: int, posts: list[Post], **kw: object) -> CaseRecord:
        state = fold(posts, auto_resolve_h=2, now=T0 + timedelta(hours=10))
        return CaseRecord(id=case_id, customer=posts[0].author, opened_at=state.opened_at, status=state.status,
                          first_response_at=state.first_response_at, resolved_at=state.resolved_at,
                          resolved_by=state.resolved_by, posts=tuple(sorted(posts, key=lambda p: p.at)),
                          **kw)  # type: ignore[arg-type]

    due = T0 + timedelta(minutes=30)
    jo = record(1, [_p("1", 0, sentiment="negative"), _p("2", 5, "restart it", parent="1", brand=True),
                    _p("3", 9, "that worked, thanks", parent="2", sentiment="positive")],
                kind="respond", needs_response_at=T0, first_response_due=due)
    amy = record(2, [_p("7", 1, author="amy", sentiment="negative")], kind="respond", needs_response_at=T0,
                 first_response_due=due)
    fan = record(3, [_p("8", 2, "love it", author="fan", sentiment="positive"),
                     _p("9", 120, "you're welcome", parent="8", brand=True)], kind="thank",
                 needs_response_at=T0, first_response_due=due)
    figures = case_figures([jo, amy, fan], now=T0 + timedelta(hours=10),
                           business_minutes=lambda start, end: (end - start).total_seconds() / 60 / 2)
    assert (figures.cases, figures.customers, figures.responded) == (3, 3, 2)
    assert figures.response_rate == pytest.approx(2 / 3)
    assert (figures.first_response_p50_min, figures.first_response_business_p50_min) == (61.5, 30.75)
    assert (figures.resolved, figures.first_contact_resolutions) == (2, 2)  # one reply each: thanks, then quiet
    assert (figures.sla_due, figures.sla_breached) == (2, 1)  # amy breached; the thank-you item never does
    assert (figures.began_negative, figures.recovered, figures.recovery_share) == (2, 1, 0.5)
    assert [r.case_id for r in figures.recoveries] == [1] and figures.resolved_by == {"customer": 1, "silence": 1}
