"""Notify: a viewing booked of a saved flat is reminded as long before it as its saver chose
(NOOK_VIEWING_REMINDER_HOURS unless they did), once a time, on the clock it was booked on; whatever the
saver's pace, not in their quiet hours, never after it began."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text

from jobs import notify
from jobs.viewings import when
from models.session import session_scope
from models.user import SavedListing, User
from tests.jobs.test_saved_news import NOW, change, seed_saved


def book(listing_id: int, at: datetime | None, zone: str = "Europe/Berlin", stage: str = "viewing") -> None:
    with session_scope() as session:
        session.execute(
            text(
                "UPDATE saved_listings SET viewing_at = :at, viewing_time_zone = :zone, stage = :stage"
                " WHERE listing_id = :id"
            ),
            {"at": at, "zone": zone if at else None, "stage": stage, "id": listing_id},
        )


def set_user(**values) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with session_scope() as session:
        session.execute(text(f"UPDATE users SET {assignments}"), values)


def reminded(listing_id: int) -> datetime | None:
    with session_scope() as session:
        return session.scalar(
            select(SavedListing.viewing_told_at).where(SavedListing.listing_id == listing_id)
        )


def test_a_viewing_is_reminded_before_it_once_and_again_when_moved(
    committed, receiver, poster, private_webhooks_allowed
):
    soon, later, viewed, cleared = seed_saved(receiver.hook_url, [2000, 2100, 2200, 2300])
    change(soon, address="12 Queen St W")
    with session_scope() as session:
        session.execute(
            text("UPDATE saved_listings SET note = 'ring twice', rating = 5 WHERE listing_id = :i"),
            {"i": soon},
        )
    book(soon, NOW + timedelta(hours=2))  # 15:00 in Berlin
    book(later, NOW + timedelta(hours=5))  # beyond the 3 hours' lead
    book(viewed, NOW + timedelta(hours=1), stage="viewed")  # seen already: nothing to remind
    book(cleared, None)  # the stage, but no time booked

    result = notify.notify_all(NOW, poster)
    assert result["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    assert result["sent"] == 0 and result["saved_news"]["sent"] == 0
    [message] = [r.json() for r in receiver.delivered]
    assert message["text"] == "Your viewing today at 15:00"
    assert message["blocks"][1]["text"]["text"] == (
        "Viewing today at 15:00: *<https://example.com/saver@example.com/0|Flat 0>*\n"
        "$2,000 · 1 bd · 1 ba\nAt 12 Queen St W\nYour note: ring twice"
    )
    [data] = message["nook"]["viewings"]
    assert (data["listing_id"], data["local_time"], data["time_zone"], data["rating"]) == (
        soon,
        "2026-11-23T15:00",
        "Europe/Berlin",
        5,
    )
    assert datetime.fromisoformat(data["viewing_at"]) == NOW + timedelta(hours=2)
    assert reminded(soon) == NOW + timedelta(hours=2)

    # once a time: the next run says nothing; the later viewing comes into its lead in turn
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["viewings"]["sent"] == 0
    assert len(receiver.delivered) == 1
    due = notify.notify_all(NOW + timedelta(hours=2, minutes=1), poster)
    assert due["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    assert receiver.delivered[-1].json()["text"] == "Your viewing today at 18:00"

    # moved: reminded again, of the new time; two due together go in one message, soonest first
    book(soon, NOW + timedelta(hours=4))
    book(later, NOW + timedelta(hours=3, minutes=30))
    both = notify.notify_all(NOW + timedelta(hours=2, minutes=10), poster)
    assert both["viewings"] == {"users": 1, "sent": 2, "failed": 0} and both["batches"] == 1
    message = receiver.delivered[-1].json()
    assert message["text"] == "2 viewings soon"
    assert [v["listing_id"] for v in message["nook"]["viewings"]] == [later, soon]
    assert message["blocks"][1]["text"]["text"].startswith("Viewing today at 16:30: ")


def test_a_flat_gone_is_reminded_with_a_word_and_a_missed_reminder_is_left_unsaid(
    committed, receiver, poster, private_webhooks_allowed
):
    gone, missed = seed_saved(receiver.hook_url, [2000, 2100])
    change(gone, status="delisted", last_seen_at=NOW - timedelta(hours=30))
    book(gone, NOW + timedelta(hours=1), zone="America/Toronto")
    book(missed, NOW + timedelta(hours=1), zone="America/Toronto")

    receiver.fail_next = 10
    failed = notify.notify_all(NOW, poster)
    assert failed["viewings"] == {"users": 1, "sent": 0, "failed": 2}
    with session_scope() as session:
        rows = session.scalars(select(SavedListing)).all()
        assert {(s.news_attempts, s.news_next_attempt_at, s.viewing_told_at) for s in rows} == {
            (1, NOW + timedelta(minutes=1), None)
        }
    assert notify.notify_all(NOW + timedelta(seconds=30), poster)["viewings"]["users"] == 0  # backing off

    receiver.fail_next = 0
    book(missed, NOW + timedelta(minutes=1), zone="America/Toronto")
    later = notify.notify_all(NOW + timedelta(minutes=2), poster)  # `missed` began a minute ago
    assert later["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    message = receiver.delivered[-1].json()
    # with the flat's news, in one message
    assert message["text"] == "Your viewing today at 08:00; 1 no longer listed among your saved listings"
    assert message["blocks"][1]["text"]["text"] == (
        "Viewing today at 08:00: *<https://example.com/saver@example.com/0|Flat 0>*\n"
        "It is no longer listed: check the viewing is still on."
    )
    assert message["nook"]["viewings"][0]["status"] == "delisted"
    assert reminded(missed) is None


def test_a_reminder_goes_whatever_the_pace_but_not_in_quiet_hours(
    committed, receiver, poster, private_webhooks_allowed
):
    viewing, cut = seed_saved(receiver.hook_url, [2000, 2500])
    book(viewing, NOW + timedelta(hours=2), zone="UTC")
    change(cut, price=2300)  # news, held back by the pace
    set_user(alert_every_minutes=1440, last_alerted_at=NOW - timedelta(hours=1))

    # quiet until 13:00 UTC: nothing goes
    set_user(quiet_from=22, quiet_until=13, quiet_time_zone="UTC")
    assert notify.notify_all(NOW, poster)["viewings"]["users"] == 0
    assert receiver.delivered == []

    set_user(quiet_from=None, quiet_until=None, quiet_time_zone=None)
    result = notify.notify_all(NOW, poster)
    assert result["viewings"]["sent"] == 1 and result["saved_news"] == {
        "users": 0,
        "sent": 0,
        "failed": 0,
        "failing_users": [],
    }
    [message] = [r.json() for r in receiver.delivered]
    assert list(message["nook"]) == ["viewings"]  # the reminder alone: the cut waits for the pace
    with session_scope() as session:
        # and a reminder does not start the pace's wait over
        assert session.scalar(select(User.last_alerted_at)) == NOW - timedelta(hours=1)

    # the pace's day up: the cut goes, and no second reminder
    day = notify.notify_all(NOW + timedelta(hours=23), poster)
    assert day["saved_news"]["sent"] == 1 and day["viewings"]["sent"] == 0
    assert list(receiver.delivered[-1].json()["nook"]) == ["saved"]


def test_a_reminder_says_the_day_as_the_saver_would():
    now = datetime(2026, 12, 2, 21, 15)
    assert when(datetime(2026, 12, 2, 23, 0), now) == "today at 23:00"
    assert when(datetime(2026, 12, 3, 9, 30), now) == "tomorrow at 09:30"
    assert when(datetime(2026, 12, 5, 18, 0), now) == "on Saturday 5 December at 18:00"


def test_a_viewing_within_quiet_hours_is_reminded_before_they_begin(
    committed, receiver, poster, private_webhooks_allowed
):
    early, late = seed_saved(receiver.hook_url, [2000, 2100])
    set_user(quiet_from=22, quiet_until=8, quiet_time_zone="Europe/Berlin")  # 21:00-07:00 UTC
    tomorrow = NOW.replace(hour=0) + timedelta(days=1)
    book(early, tomorrow + timedelta(hours=6, minutes=30))  # 07:30 in Berlin, within the quiet hours
    book(late, tomorrow + timedelta(hours=7, minutes=15))  # 08:15: reminded as they end, an hour before

    assert notify.notify_all(NOW + timedelta(hours=5), poster)["viewings"]["users"] == 0  # 18:00 Berlin
    evening = notify.notify_all(NOW + timedelta(hours=6, minutes=30), poster)  # 19:30: within 3 h of 22:00
    assert evening["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    assert receiver.delivered[-1].json()["text"] == "Your viewing tomorrow at 07:30"
    assert notify.notify_all(NOW + timedelta(hours=10), poster)["viewings"]["users"] == 0  # 23:00: quiet
    morning = notify.notify_all(tomorrow + timedelta(hours=7), poster)  # 08:00, the quiet hours over
    assert morning["viewings"]["sent"] == 1
    assert receiver.delivered[-1].json()["text"] == "Your viewing today at 08:15"
    assert reminded(early) is not None and len(receiver.delivered) == 2


def test_each_saver_is_reminded_as_long_before_as_they_chose(
    committed, receiver, poster, private_webhooks_allowed
):
    (day_before,) = seed_saved(receiver.hook_url, [2000], email="early@example.com")
    (never,) = seed_saved(receiver.hook_url, [2100], email="never@example.com")
    (short,) = seed_saved(receiver.hook_url, [2200], email="short@example.com")
    leads = {"early@example.com": 1440, "never@example.com": 0, "short@example.com": 45}
    with session_scope() as session:
        for email, minutes in leads.items():
            session.execute(
                text("UPDATE users SET viewing_reminder_minutes = :m WHERE email = :e"),
                {"m": minutes, "e": email},
            )
    book(day_before, NOW + timedelta(hours=20))  # 09:00 tomorrow in Berlin: within its day's lead
    book(never, NOW + timedelta(minutes=30))
    book(short, NOW + timedelta(hours=2))  # within nook's 3 hours, not within its own 45 minutes

    first = notify.notify_all(NOW, poster)
    assert first["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    assert receiver.delivered[-1].json()["text"] == "Your viewing tomorrow at 09:00"
    assert reminded(never) is None and reminded(short) is None
    assert notify.notify_all(NOW + timedelta(hours=1, minutes=14), poster)["viewings"]["users"] == 0
    due = notify.notify_all(NOW + timedelta(hours=1, minutes=15), poster)
    assert due["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    assert receiver.delivered[-1].json()["text"] == "Your viewing today at 15:00"
    # a saver who wants none hears of no viewing, up to its start
    assert notify.notify_all(NOW + timedelta(minutes=29), poster)["viewings"]["users"] == 0
    assert reminded(never) is None and len(receiver.delivered) == 2


def test_a_viewing_within_quiet_hours_is_reminded_its_saver_lead_before_they_begin(
    committed, receiver, poster, private_webhooks_allowed
):
    (early,) = seed_saved(receiver.hook_url, [2000])
    set_user(quiet_from=22, quiet_until=8, quiet_time_zone="Europe/Berlin", viewing_reminder_minutes=60)
    book(early, NOW.replace(hour=0) + timedelta(days=1, hours=6, minutes=30))  # 07:30 in Berlin

    assert notify.notify_all(NOW + timedelta(hours=6, minutes=30), poster)["viewings"]["users"] == 0  # 19:30
    assert notify.notify_all(NOW + timedelta(hours=7, minutes=59), poster)["viewings"]["users"] == 0  # 20:59
    evening = notify.notify_all(NOW + timedelta(hours=8), poster)  # 21:00: an hour before they begin
    assert evening["viewings"]["sent"] == 1
    assert receiver.delivered[-1].json()["text"] == "Your viewing tomorrow at 07:30"
