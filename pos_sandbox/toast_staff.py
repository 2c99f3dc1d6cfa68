"""Toast's restaurant staff and devices, rendered from the world (the names behind the GUID and id
references an order carries: ``Order.server`` and ``createdDevice``).

* ``GET /labor/v1/employees`` (labor API 1.x, scope ``labor.employees:read``): a bare array of
  ``Employee`` (``guid``, ``entityType: "RestaurantUser"``, ``externalId``, ``firstName``,
  ``chosenName``, ``lastName``, ``email``, ``phoneNumber``, ``phoneNumberCountryCode``,
  ``externalEmployeeId``, ``createdDate``, ``modifiedDate``, ``deletedDate``, ``deleted``,
  ``jobReferences``, ``wageOverrides``, ``v2EmployeeGuid``), every employee of the restaurant
  (the world's team members assigned to it, the owner included), or only those named by repeated
  ``employeeIds`` query parameters (GUIDs; at most 100). No paging (the API has none).
* ``GET /device-details/v1/device-info`` (device details API, scope
  ``device-details.info:read``): a bare array of ``Device`` (``deviceModel``, ``deviceModelName``,
  ``serialNumber``, ``deviceType: "POS"``, ``posDeviceInfo`` {``posType``, ``deviceName``,
  ``deviceId``, ``lastSyncedAt``, ``primaryMode``, ``posAppVersion``, …}), one per register of the
  restaurant; ``posDeviceInfo.deviceId`` is the id orders carry in ``createdDevice.id``.

Sources: the labor API 1.9 and device details API 1.0 OpenAPI documents (published copies in
github.com/api-evangelist/toast: ``openapi/toast-labor-openapi.yaml``,
``openapi/_original/toast-device-details-openapi.yaml``).

Choices where the specs are silent: employees' ``phoneNumber`` is null (the world knows no staff
phones), ``chosenName`` null; a device's serial number is derived from its id; ``lastSyncedAt`` is
the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pos_sandbox.model import Location, TeamMember
from pos_sandbox.toast_http import toast_ts

MAX_EMPLOYEE_IDS = 100


def employee(member: TeamMember) -> dict[str, Any]:
    created = toast_ts(member.created_at)
    return {
        "guid": member.id, "entityType": "RestaurantUser", "externalId": None,
        "firstName": member.given_name, "chosenName": None, "lastName": member.family_name,
        "email": member.email, "phoneNumber": None, "phoneNumberCountryCode": None,
        "externalEmployeeId": None, "createdDate": created, "modifiedDate": created, "deletedDate": None,
        "deleted": False, "jobReferences": [], "wageOverrides": [], "v2EmployeeGuid": None,
    }


def employees(team: Iterable[TeamMember], location_id: str, now: datetime,
              wanted: list[str] | None = None) -> list[dict[str, Any]]:
    """The restaurant's employees existing at ``now`` (only ``wanted`` ones when given)."""
    picked = set(wanted or ())
    return [employee(m) for m in team
            if location_id in m.location_ids and m.created_at <= now and (not picked or m.id in picked)]


def _serial(device_id: str) -> str:
    return hashlib.blake2b(device_id.encode(), digest_size=4).hexdigest()


def devices(loc: Location, now: datetime) -> list[dict[str, Any]]:
    """One POS terminal per register of the restaurant, named as the till names it."""
    return [{
        "deviceModel": "TT200", "deviceModelName": "Toast Terminal", "serialNumber": _serial(register_id),
        "deviceType": "POS",
        "posDeviceInfo": {
            "posType": "TERMINAL", "deviceName": name, "deviceId": register_id, "lastSyncedAt": toast_ts(now),
            "primaryMode": "Quick Order", "orderAutofireEnabled": None, "pciCompliant": True,
            "posAppVersion": "4.3.1", "androidOsVersion": "14.0", "androidOsSdkLevel": 34,
        },
    } for register_id, name in zip(loc.registers, loc.register_names, strict=True)]
