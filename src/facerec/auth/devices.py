"""Kiosk devices: registered by an admin, paired once by a link (and its QR code) opened
on the tablet, which exchanges the link's code for the device token. The token can only
check people in, and names the events it makes. Re-pairing issues a new link and ends
the old token; revoking ends the token (the kiosk is told ``device_revoked``)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from urllib.parse import quote

import segno
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from facerec.audit import record
from facerec.auth.models import Device
from facerec.auth.principal import Principal
from facerec.auth.tokens import digest, new_secret
from facerec.db.engine import lock_for_write
from facerec.errors import Conflict, NotFound, Unauthenticated

PAIRING_VALID = timedelta(hours=24)


class DeviceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    location: str = Field(default="", max_length=200)


class DevicePublic(BaseModel):
    id: int
    name: str
    location: str
    created_at: datetime
    created_by: str
    paired_at: datetime | None
    last_seen_at: datetime | None
    revoked_at: datetime | None
    pairing_expires_at: datetime | None


class DevicePage(BaseModel):
    items: list[DevicePublic]
    total: int


class Pairing(BaseModel):
    """A one-time pairing link: open it on the tablet (or scan the QR code)."""

    device: DevicePublic
    pairing_url: str
    pairing_qr_svg: str
    pairing_expires_at: datetime


class PairRequest(BaseModel):
    code: str = Field(min_length=1, max_length=200)


class Paired(BaseModel):
    token: str
    """The device token (``frd_...``): the kiosk keeps it and sends it as a Bearer."""
    device: DevicePublic


def create_device(
    *, session: Session, device_in: DeviceCreate, actor: Principal, now: datetime, base_url: str
) -> Pairing:
    lock_for_write(session)
    taken = session.exec(select(Device.id).where(Device.name == device_in.name)).first()
    if taken is not None:
        raise Conflict(f"a device named {device_in.name!r} exists", field="name")
    device = Device(
        name=device_in.name, location=device_in.location, created_at=now, created_by=actor.label
    )
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:  # another writer took the name (PostgreSQL)
        raise Conflict(f"a device named {device_in.name!r} exists", field="name") from exc
    code = _new_pairing(device, now)
    record(
        session,
        time=now,
        actor=actor,
        action="device.create",
        entity="device",
        entity_id=device.id,
        details={"name": device.name, "location": device.location},
    )
    session.commit()
    return _pairing(device, code, base_url)


def repair_device(
    *, session: Session, device_id: int, actor: Principal, now: datetime, base_url: str
) -> Pairing:
    """A new pairing link; the old link and the old token stop working. A revoked device
    is reinstated this way (its old token stays refused)."""
    lock_for_write(session)
    device = _get(session, device_id)
    reinstated = device.revoked_at is not None
    device.token_hash = None
    device.revoked_at = None
    device.paired_at = None
    code = _new_pairing(device, now)
    record(
        session,
        time=now,
        actor=actor,
        action="device.pairing",
        entity="device",
        entity_id=device.id,
        details={"name": device.name, "reinstated": reinstated},
    )
    session.commit()
    return _pairing(device, code, base_url)


def pair_device(*, session: Session, code: str, now: datetime) -> Paired:
    """Exchange a valid, unexpired pairing code (once) for the device token (audited as
    the device itself: whoever holds the link acts for it)."""
    lock_for_write(session)
    query = select(Device).where(Device.pairing_hash == digest(code))
    device = session.exec(query).first()
    expires = device.pairing_expires_at if device is not None else None
    if device is None or device.revoked_at is not None or expires is None or now >= expires:
        raise Unauthenticated("this pairing link is unknown, used or expired; ask for a new one")
    token = new_secret("frd")
    device.token_hash = digest(token)
    device.pairing_hash = None
    device.pairing_expires_at = None
    device.paired_at = now
    session.add(device)
    actor = Principal(kind="device", id=device.id, name=device.name)
    record(
        session,
        time=now,
        actor=actor,
        action="device.pair",
        entity="device",
        entity_id=device.id,
        details={"name": device.name},
    )
    session.commit()
    return Paired(token=token, device=_public(device))


def revoke_device(*, session: Session, device_id: int, actor: Principal, now: datetime) -> None:
    """Revoke a device (again is fine): its next request is ``device_revoked``."""
    lock_for_write(session)
    device = _get(session, device_id)
    if device.revoked_at is None:
        device.revoked_at = now
        device.pairing_hash = None
        device.pairing_expires_at = None
        session.add(device)
        record(
            session,
            time=now,
            actor=actor,
            action="device.revoke",
            entity="device",
            entity_id=device.id,
            details={"name": device.name},
        )
    session.commit()


def list_devices(*, session: Session, offset: int = 0, limit: int = 100) -> DevicePage:
    total = session.exec(select(func.count()).select_from(Device)).one()
    rows = session.exec(select(Device).order_by(col(Device.id)).offset(offset).limit(limit))
    return DevicePage(items=[_public(d) for d in rows.all()], total=int(total))


def pairing_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/kiosk?pair={quote(code, safe='')}"


def qr_svg(url: str) -> str:
    """The link as an SVG QR code (no XML declaration: it goes inside a page)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", xmldecl=False, nl=False, scale=4, border=2)
    return out.getvalue().decode("utf-8")


def _new_pairing(device: Device, now: datetime) -> str:
    code = new_secret("frp")
    device.pairing_hash = digest(code)
    device.pairing_expires_at = now + PAIRING_VALID
    return code


def _pairing(device: Device, code: str, base_url: str) -> Pairing:
    url = pairing_url(base_url, code)
    assert device.pairing_expires_at is not None
    return Pairing(
        device=_public(device),
        pairing_url=url,
        pairing_qr_svg=qr_svg(url),
        pairing_expires_at=device.pairing_expires_at,
    )


def _get(session: Session, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}", resource="device")
    return device


def _public(device: Device) -> DevicePublic:
    assert device.id is not None
    return DevicePublic(
        id=device.id,
        name=device.name,
        location=device.location,
        created_at=device.created_at,
        created_by=device.created_by,
        paired_at=device.paired_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
        pairing_expires_at=device.pairing_expires_at,
    )
