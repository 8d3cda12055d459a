"""Attendance tables and what the API shows of them."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import field_validator
from sqlalchemy import JSON, Column, ForeignKey, Integer, LargeBinary
from sqlmodel import Field, SQLModel

from facerec.db.models import MAX_ID, timestamp_column
from facerec.people.models import CheckedText

EARLIEST_DAY = date(2, 1, 1)
LATEST_DAY = date(9998, 12, 31)
"""The days the API takes (report and list days, event times): their bounds in any time
zone, and in UTC, stay within what ``datetime`` holds (an overflow was a 500)."""


class AttendanceEvent(SQLModel, table=True):
    """A person seen (or recorded by an admin) at a moment."""

    __tablename__ = "attendance_events"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("people.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    """People are never deleted, only removed (a tombstone): their events stay."""
    time: datetime = Field(sa_column=timestamp_column(index=True))
    similarity: float | None = None
    device: str | None = Field(default=None, max_length=100)
    crop_path: str | None = Field(default=None, max_length=200)
    source: str = Field(default="camera", max_length=16)
    """``camera`` (a check-in) or ``manual`` (added by an admin)."""


class UnknownFace(SQLModel, table=True):
    """A face that matched nobody, kept for review; similar ones share a ``group_id``."""

    __tablename__ = "unknown_faces"
    __table_args__ = {"sqlite_autoincrement": True}  # ids (and so group ids) never reused

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(index=True)
    time: datetime = Field(sa_column=timestamp_column(index=True))
    device: str | None = Field(default=None, max_length=100)
    crop_path: str = Field(max_length=200)
    box: list[int] = Field(sa_column=Column(JSON, nullable=False))
    """The face inside the crop, [x1, y1, x2, y2]."""
    landmarks: list[list[float]] = Field(sa_column=Column(JSON, nullable=False))
    det_score: float
    quality: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    model: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16, index=True)
    """``pending``, ``enrolled`` (new person), ``assigned`` (existing person), ``dismissed``."""
    person_id: int | None = None


class Schedule(SQLModel, table=True):
    __tablename__ = "attendance_schedules"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    start_time: time
    end_time: time
    weekdays: list[int] = Field(sa_column=Column(JSON, nullable=False))
    """ISO weekdays that are working days: 1 = Monday ... 7 = Sunday."""
    grace_minutes: int = 0
    is_default: bool = False


class PersonSchedule(SQLModel, table=True):
    """A person's own schedule, overriding the default."""

    __tablename__ = "attendance_person_schedules"

    person_id: int = Field(
        sa_column=Column(Integer, ForeignKey("people.id", ondelete="RESTRICT"), primary_key=True)
    )
    schedule_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("attendance_schedules.id", ondelete="CASCADE"), nullable=False
        )
    )


class Holiday(SQLModel, table=True):
    """A day that differs from the schedule: ``off`` (holiday) or ``workday`` (调休 make-up day)."""

    __tablename__ = "attendance_holidays"

    day: date = Field(primary_key=True)
    name: str = Field(default="", max_length=100)
    kind: str = Field(default="off", max_length=8)


# -- API shapes --------------------------------------------------------------------------

EventStatus = Literal["checked_in", "duplicate"]
DayStatus = Literal["present", "late", "left_early", "absent", "off", "inactive"]
"""``inactive``: before the person's start date or after their end date (not absent)."""


class CheckInEvent(SQLModel):
    id: int
    person_id: int
    name: str
    time: datetime
    similarity: float
    status: EventStatus


class CheckInResult(SQLModel):
    events: list[CheckInEvent]
    unknown_faces: int


class EventPublic(SQLModel):
    id: int
    person_id: int
    name: str
    time: datetime
    similarity: float | None
    device: str | None
    source: str
    has_crop: bool
    removed: bool = False
    """The person was removed: ``name`` is what was kept of them (privacy setting)."""


class EventPage(SQLModel):
    items: list[EventPublic]
    total: int


class EventCreate(SQLModel):
    person_id: int = Field(gt=0, le=MAX_ID)
    time: datetime
    """With a UTC offset; a naive time is read in the configured time zone."""
    device: str | None = Field(default=None, max_length=100)
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("time")
    @classmethod
    def _within_range(cls, value: datetime) -> datetime:
        if not EARLIEST_DAY <= value.date() <= LATEST_DAY:
            raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
        return value


class UnknownGroup(SQLModel):
    group_id: int
    count: int
    first_seen: datetime
    last_seen: datetime
    devices: list[str]
    face_ids: list[int]
    """Unknown-face ids in this group, newest first (crops: /unknown/faces/{id}/crop)."""


class UnknownPage(SQLModel):
    items: list[UnknownGroup]
    total: int


class EnrolUnknown(CheckedText):
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class AssignUnknown(SQLModel):
    person_id: int = Field(gt=0, le=MAX_ID)


class ResolvedUnknown(SQLModel):
    group_id: int
    status: str
    person_id: int | None
    faces_added: int


class ScheduleIn(SQLModel):
    name: str = Field(min_length=1, max_length=100)
    start_time: time
    end_time: time
    weekdays: list[int] = Field(default=[1, 2, 3, 4, 5], min_length=1, max_length=7)
    grace_minutes: int = Field(default=0, ge=0, le=240)
    is_default: bool = False


class SchedulePublic(ScheduleIn):
    id: int


class PersonScheduleIn(SQLModel):
    schedule_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    """None: follow the default schedule."""


class HolidayIn(SQLModel):
    name: str = Field(default="", max_length=100)
    kind: Literal["off", "workday"] = "off"


class HolidayPublic(HolidayIn):
    day: date


class DayRow(SQLModel):
    person_id: int
    name: str
    external_id: str | None
    day: date
    status: DayStatus
    first_in: datetime | None
    last_out: datetime | None
    minutes_late: int
    minutes_early: int
    events: int
    removed: bool = False
    """The person was removed (their history stays; see EventPublic.removed)."""


class PersonTotals(SQLModel):
    person_id: int
    name: str
    external_id: str | None
    removed: bool = False
    working_days: int
    present: int
    late: int
    left_early: int
    absent: int
    minutes_late: int


class Report(SQLModel):
    start: date
    end: date
    timezone: str
    rows: list[DayRow]
    totals: list[PersonTotals]


class TodaySummary(SQLModel):
    day: date
    timezone: str
    present: int
    late: int
    absent: int
    off: int
    recent: list[EventPublic]
