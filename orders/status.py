"""What the customer's status page says, in the order's language, true at every moment.

`customer_view(project)` is the page's data and its JSON feed: the steps (with "nouvelle
tentative à 14:32" while one waits for a retry), one sentence on what is happening now, and,
when they apply, the receipt, the campaign's terms, the revisions and the contact to write to.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from orchestration import clock
from orchestration.models import TaskStatus
from orders.mail import campaign_terms, format_date, format_money
from orders.models import Project, ProjectStatus, RevisionStatus
from orders.revisions import revisions_left
from orders.selectors import project_latest_run, project_status_view

STATE_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "waiting": "À venir",
        "queued": "À venir",
        "running": "En cours",
        "succeeded": "Terminé",
        "dead": "Arrêté : notre équipe est prévenue",
        "cancelled": "Annulé",
        "retrying": "Nouvelle tentative à {time}",
        "retrying_now": "Nouvelle tentative imminente",
    },
    "en": {
        "waiting": "Up next",
        "queued": "Up next",
        "running": "In progress",
        "succeeded": "Done",
        "dead": "Stopped: our team has been alerted",
        "cancelled": "Cancelled",
        "retrying": "Trying again at {time}",
        "retrying_now": "Trying again shortly",
    },
}
STATUS_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "awaiting_payment": "En attente du paiement",
        "paid": "Paiement reçu",
        "in_progress": "Fabrication en cours",
        "delivered": "Votre site est en ligne",
        "failed": "Arrêtée : notre équipe s'en occupe",
        "cancelled": "Commande annulée",
        "refunded": "Commande remboursée",
        "abandoned": "Paiement non abouti",
    },
    "en": {
        "awaiting_payment": "Waiting for your payment",
        "paid": "Payment received",
        "in_progress": "Being built",
        "delivered": "Your site is live",
        "failed": "Stopped: our team is on it",
        "cancelled": "Order cancelled",
        "refunded": "Order refunded",
        "abandoned": "Payment not completed",
    },
}
NOW: dict[str, dict[str, str]] = {
    "fr": {
        "awaiting_payment": "Nous attendons la confirmation de votre paiement par Stripe ; cette page se met à jour "
        "toute seule.",
        "working": "Nous travaillons sur votre site : {step}.",
        "retrying": "L'étape « {step} » a rencontré un problème passager : nouvelle tentative à {time}. "
        "Vous n'avez rien à faire.",
        "retrying_now": "L'étape « {step} » a rencontré un problème passager : nouvelle tentative imminente. "
        "Vous n'avez rien à faire.",
        "failed": "Un problème nous empêche de terminer votre site. Notre équipe a été prévenue et vous écrira "
        "à {email}. Vous pouvez aussi nous écrire à {support} en indiquant la commande {reference}.",
        "delivered": "Tout est prêt : le lien de votre site, votre campagne (en pause) et votre reçu sont ci-dessous.",
        "revision": "Nous préparons la nouvelle version de votre site ; l'actuelle reste en ligne d'ici là.",
        "cancelled": "Cette commande a été annulée. Une question ? Écrivez-nous à {support}.",
        "refunded": "Cette commande a été remboursée : {amount} le {date}. La somme apparaît sous 5 à 10 jours "
        "ouvrés sur la carte utilisée.",
        "abandoned": "Le paiement n'a pas abouti : rien n'a été débité. Vous pouvez repasser commande quand vous "
        "voulez.",
        "starting": "Paiement reçu : la fabrication démarre.",
    },
    "en": {
        "awaiting_payment": "We are waiting for Stripe to confirm your payment; this page updates by itself.",
        "working": "We are working on your site: {step}.",
        "retrying": "The step “{step}” hit a passing problem: trying again at {time}. There is nothing you need to do.",
        "retrying_now": "The step “{step}” hit a passing problem: trying again shortly. There is nothing you need to "
        "do.",
        "failed": "A problem is stopping us from finishing your site. Our team has been alerted and will write "
        "to you at {email}. You can also write to {support}, quoting order {reference}.",
        "delivered": "All done: your site's link, your campaign (paused) and your receipt are below.",
        "revision": "We are preparing the new version of your site; the current one stays live until then.",
        "cancelled": "This order was cancelled. A question? Write to {support}.",
        "refunded": "This order was refunded: {amount} on {date}. It reaches the card you paid with within 5 to "
        "10 business days.",
        "abandoned": "The payment did not go through: nothing was charged. You can order again whenever you like.",
        "starting": "Payment received: work is starting.",
    },
}
REVISION_LABELS = {
    "fr": {
        "requested": "Demandée",
        "in_progress": "En préparation",
        "live": "En ligne",
        "failed": "Arrêtée : notre équipe vous écrira",
        "cancelled": "Annulée",
    },
    "en": {
        "requested": "Requested",
        "in_progress": "Being prepared",
        "live": "Live",
        "failed": "Stopped: our team will write to you",
        "cancelled": "Cancelled",
    },
}
POLLING = ("awaiting_payment", "paid", "in_progress")


def local_time(moment: Any) -> str:
    return moment.astimezone(ZoneInfo(settings.CUSTOMER_TIME_ZONE)).strftime("%H:%M")


def customer_view(project: Project) -> dict[str, Any]:
    """The status page's data (also its JSON feed), every word in the order's language."""
    language = project.language if project.language in STATE_LABELS else "en"
    view = project_status_view(project)
    labels = STATE_LABELS[language]
    run = project_latest_run(project)
    tasks = {t.step: t for t in run.tasks.all()} if run is not None else {}
    now = clock.now()
    retry: dict[str, Any] | None = None
    current: str | None = None
    for step in view["steps"]:
        task = tasks.get(step["name"])
        step["state_label"] = labels.get(step["status"], step["status"])
        step["retry_at"] = None
        # A retry: queued again after an attempt of this set failed (not a checkpoint or a release, which
        # resume the same attempt, nor a staff replay, which starts a fresh set). Once its time has passed
        # it still waits for a worker: "shortly", never "up next" as if it had not been tried.
        if task is not None and task.status == TaskStatus.QUEUED and task.attempts_spent >= 1 and not task.resume:
            step["status"] = "retrying"
            if task.run_after > now:
                step["retry_at"] = local_time(task.run_after)
                step["state_label"] = labels["retrying"].format(time=step["retry_at"])
            else:
                step["state_label"] = labels["retrying_now"]
            retry = retry or {"step": step["label"], "time": step["retry_at"]}
        if current is None and step["status"] in ("running", "queued"):
            current = step["label"]
    revisions = list(project.revisions.order_by("number"))
    under_way = any(r.status in (RevisionStatus.REQUESTED, RevisionStatus.IN_PROGRESS) for r in revisions)
    view.update(
        {
            "language": language,
            "status_label": STATUS_LABELS[language].get(project.status, project.status),
            "now": _now_sentence(project, language, retry, current, under_way),
            "reference": project.reference,
            "contact_email": project.contact_email,
            "support_email": settings.SUPPORT_EMAIL,
            "receipt": _receipt(project, language),
            "campaign": _campaign(run, language) if project.status == ProjectStatus.DELIVERED else None,
            "revisions": [
                {
                    "number": r.number,
                    "status": r.status,
                    "status_label": REVISION_LABELS[language].get(r.status, r.status),
                    "feedback": r.feedback,
                    "applied": r.applied,
                    "not_applied": r.not_applied,
                }
                for r in revisions
            ],
            "revisions_left": revisions_left(project) if project.status == ProjectStatus.DELIVERED else 0,
            "revision_under_way": under_way,
            # The page asks again while anything can still change.
            "polling": project.status in POLLING or under_way,
        }
    )
    # What the server-written sections depend on: the page swaps them in when this changes.
    view["sections_key"] = "|".join(
        [
            project.status,
            view["site_url"] or "",
            str(project.refunded_cents),
            *(f"{r['number']}:{r['status']}" for r in view["revisions"]),
        ]
    )
    return view


def _now_sentence(
    project: Project, language: str, retry: dict[str, Any] | None, current: str | None, under_way: bool
) -> str:
    words = NOW[language]
    status = project.status
    facts = {
        "email": project.contact_email,
        "support": settings.SUPPORT_EMAIL,
        "reference": project.reference,
    }
    if status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS):
        if retry is not None:
            return words["retrying" if retry["time"] else "retrying_now"].format(**retry)
        return words["working"].format(step=current) if current else words["starting"]
    if status == ProjectStatus.DELIVERED:
        return words["revision"] if under_way else words["delivered"]
    if status == ProjectStatus.REFUNDED:
        refund = getattr(project, "refund", None)
        cents = refund.amount_cents if refund is not None else project.amount_cents or 0
        when = project.refunded_at or clock.now()
        return words["refunded"].format(
            amount=format_money(cents, project.currency or settings.ORDER_CURRENCY, language),
            date=format_date(when, language),
        )
    return words.get(status, "").format(**facts)


def _receipt(project: Project, language: str) -> dict[str, str] | None:
    if project.paid_at is None or project.amount_cents is None:
        return None
    currency = project.currency or settings.ORDER_CURRENCY
    return {
        "reference": project.reference,
        "amount": format_money(project.amount_cents, currency, language),
        "date": format_date(project.paid_at, language),
        # A partial refund made by our team in Stripe: said on the receipt (a full one is the page's headline).
        "refunded": format_money(project.refunded_cents, currency, language)
        if project.refunded_cents and project.status != ProjectStatus.REFUNDED
        else "",
    }


def _campaign(run: Any, language: str) -> dict[str, str] | None:
    if run is None:
        return None
    task = run.tasks.filter(step="campaign", status=TaskStatus.SUCCEEDED).first()
    output = task.output if task is not None and isinstance(task.output, dict) else {}
    campaign = output.get("campaign") if isinstance(output.get("campaign"), dict) else None
    if not campaign:
        return None
    return {"summary": str(output.get("summary") or ""), **campaign_terms(campaign, language)}
