"""The personas of tests/conftest.py are what the product meets: a customer opens the status page
of their order with no account, an agent's signed callback passes the gateway's signature check."""

from __future__ import annotations

from django.test import Client

from tests.support.personas import Agent, Customer

CALLBACK = "/api/orchestration/webhooks"


def callback_for_no_task(customer: Customer) -> dict[str, object]:
    return {
        "type": "task_completed",
        "agentId": "engine",
        "projectId": str(customer.project.id),
        "taskId": 999_999,
        "attempt": 1,
        "data": {"output": {}},
    }


def test_a_customer_reads_the_status_page_of_their_order_without_signing_in(customer: Customer) -> None:
    page = customer.status_page()

    assert page.status_code == 200
    assert customer.project.business_name in page.content.decode()


def test_an_agents_signed_callback_passes_the_signature_check(customer: Customer, agent: Agent) -> None:
    answer = agent.post(Client(), CALLBACK, callback_for_no_task(customer))

    # Past the signature: the gateway looked for the task, and found none.
    assert answer.status_code == 404, answer.content
    assert answer.json()["error"]["code"] == "unknown_task"


def test_a_callback_signed_with_another_secret_is_refused(customer: Customer, agent: Agent) -> None:
    stranger = Agent("whsec_" + "c3RyYW5nZXIta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTI=")

    answer = stranger.post(Client(), CALLBACK, callback_for_no_task(customer))

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "bad_signature"
