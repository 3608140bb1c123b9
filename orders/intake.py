"""The business details of a brief as the intake receives them: validated and the images prepared.

One function for every intake path (the API's serializer today, the order form next), so what is accepted is
what setup accepts later: the same validate_business_details, plus the Pillow checks of orders/media.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orders.brief import regulated_trade, sector_family
from orders.business_details import DETAIL_KEYS, validate_business_details
from orders.media import prepare_uploads


def intake_business_details(raw: Any, cleaned: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(details for project_create, errors by field). `raw` is the body as sent, `cleaned` the core fields."""
    if not isinstance(raw, Mapping):
        return {}, {"brief": ["Expected a JSON object."]}
    data = {**{key: raw.get(key) for key in DETAIL_KEYS}, "language": cleaned.get("language")}
    texts = [str(cleaned.get(k) or "") for k in ("sector", "business_name", "description")]
    errors = validate_business_details(data, sector_family=sector_family(*texts), regulated=regulated_trade(*texts))
    if errors:
        return {}, errors
    photos, logo, image_errors = prepare_uploads(data)
    if image_errors:
        return {}, image_errors
    details = {key: data[key] for key in DETAIL_KEYS if data.get(key) not in (None, "", [], {})}
    details["photos"], details["logo"] = photos, logo
    return details, {}
