"""Secrets stay out of the admin: an API token's key is shown once, when it is made."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_the_token_list_shows_a_hint_never_the_key(staff_client) -> None:
    integration = get_user_model().objects.create_user("intake-bot")
    token = Token.objects.create(user=integration)
    page = staff_client.get("/admin/authtoken/tokenproxy/")
    assert page.status_code == 200
    html = page.content.decode()
    assert token.key not in html
    assert f"{token.key[:4]}…" in html


def test_a_new_token_is_shown_once_in_a_message(staff_client) -> None:
    integration = get_user_model().objects.create_user("stripe-ops")
    response = staff_client.post("/admin/authtoken/tokenproxy/add/", {"user": integration.pk}, follow=True)
    key = Token.objects.get(user=integration).key
    assert key in response.content.decode(), "the message carries the key this once"
    assert key not in staff_client.get("/admin/authtoken/tokenproxy/").content.decode()
