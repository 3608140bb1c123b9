"""ads-management.campaign: a Google Ads search campaign built from the brief, within Google Ads limits.

Texts that do not fit are shortened only where the result still reads well (a name without its last words,
a description cut at the end of a clause); otherwise they are dropped and the next candidate is used.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from agents.copywriting import copy_context, offers_from_description, sector_vocabulary, sentences
from orders.brief import Brief, page_kind, slugify_business, slugify_text

HEADLINE_MAX, DESCRIPTION_MAX, PATH_MAX = 30, 90, 15
MIN_HEADLINES, MAX_HEADLINES = 3, 15
MIN_DESCRIPTIONS, MAX_DESCRIPTIONS = 2, 4
KEYWORD_MAX_CHARS, KEYWORD_MAX_WORDS = 80, 10
MATCH_TYPES = {"exact": "Exact", "phrase": "Phrase", "broad": "Broad"}
# Editor's value for the Google Search network alone: no Search Partners, no Display, until someone decides otherwise.
NETWORKS = "Google Search"
# Google Ads Editor's own column names ("Import a CSV file in Google Ads Editor", CSV file columns); Editor
# ignores case and spaces in headers but not spelling, and reads an empty cell as "leave unchanged".
CSV_HEADER = (
    ["Campaign", "Campaign Type", "Campaign Daily Budget", "Networks", "Languages", "Location", "Ad Group", "Keyword"]
    + ["Criterion Type", "Ad type"]
    + [f"Headline {n}" for n in range(1, MAX_HEADLINES + 1)]
    + [f"Description {n}" for n in range(1, MAX_DESCRIPTIONS + 1)]
    + ["Path 1", "Path 2", "Final URL", "Status"]
)
# Words a headline must not end on: "Durand &" or "Boulangerie de" read as broken text.
DANGLING = frozenset(
    {"&", "+", "-", "\N{EN DASH}", "de", "du", "des", "la", "le", "les", "et", "à", "a", "the", "and", "of", "in"}
)
SMALL_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "&"})
# Searches from job seekers and do-it-yourselfers rarely turn into customers.
NEGATIVE_KEYWORDS = {
    "fr": ("emploi", "recrutement", "formation", "salaire", "stage", "tuto"),
    "en": ("jobs", "careers", "salary", "training", "apprenticeship", "diy"),
}
FALLBACK_HEADLINES = {
    "fr": ("Contactez-nous", "Réponse rapide", "Devis sur demande"),
    "en": ("Contact Us", "Quick Reply", "Ask For A Quote"),
}
FALLBACK_DESCRIPTIONS = {
    "fr": ("Contactez-nous par e-mail : nous vous répondons rapidement.", "Un service local, sérieux et attentif."),
    "en": ("Email us and we will get back to you quickly.", "A local, reliable and attentive service."),
}
EMERGENCY_WORDS = {"fr": "Urgence", "en": "Emergency"}


# A spreadsheet (Excel, LibreOffice, Sheets) opening the CSV runs a cell that starts with one of these as a
# formula: `=HYPERLINK(...)`, `=cmd|' /C calc'!A0` (OWASP, "CSV Injection"). Full-width forms count too.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _ad_text(text: str) -> str:
    """Ad copy never starts with a formula trigger: dropped rather than escaped, since an escaping
    apostrophe would count against the 30/90-character limits and show in the ad."""
    return _squash(text).lstrip("".join(FORMULA_TRIGGERS) + " ")


def spreadsheet_safe(value: Any) -> Any:
    """OWASP's advice for a cell that would start a formula: prefix it with a single quote, so a
    spreadsheet shows it as text (the csv module then quotes and doubles quotes as needed). Other
    cells are written as they are, so the file stays what Google Ads Editor imports."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def fit_headline(text: str, *, shorten_words: bool = False) -> str | None:
    """The headline if it fits in 30 characters; names may lose trailing words but never end on 'de' or '&'."""
    text = _ad_text(text)
    if len(text) <= HEADLINE_MAX:
        return text or None
    if not shorten_words:
        return None
    words = text.split()
    while words and (len(" ".join(words)) > HEADLINE_MAX or words[-1].lower() in DANGLING):
        words.pop()
    return " ".join(words) if len(words) >= 2 else None


def fit_description(text: str) -> str | None:
    """The description if it fits in 90 characters, else its longest leading sentence or clause that does."""
    text = _ad_text(text)
    if len(text) <= DESCRIPTION_MAX:
        return text or None
    # Sentence ends first, then commas, semicolons and dashes; never a colon, which announces the substance.
    for boundary in (r"[.!?](?=\s)", r"\s[;\u2013]\s|,\s"):
        cuts = [m.start() for m in re.finditer(boundary, text) if m.start() < DESCRIPTION_MAX]
        if cuts and cuts[-1] >= 30:  # shorter than that says too little to be worth an ad slot
            return text[: cuts[-1]].rstrip(" ,;:\N{EN DASH}") + "."
    return None


def _title_case(text: str, language: str) -> str:
    """English ads conventionally use Title Case; French ads keep sentence case."""
    if language != "en":
        return text[:1].upper() + text[1:]
    words = text.split()
    return " ".join(
        w if (i and w.lower() in SMALL_WORDS) or w[:1].isupper() else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )


def _unique(candidates: list[str | None], limit: int) -> list[str]:
    kept: list[str] = []
    seen: set[str] = set()
    for text in candidates:
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    return kept[:limit]


def _keyword_text(text: str) -> str:
    # Google Ads rejects most punctuation in keywords; keep letters, digits, apostrophes, hyphens and '&'.
    return _squash(re.sub(r"[^\w\s'&-]", " ", text.lower()))


def _keywords(terms: list[str], city: str) -> list[dict[str, str]]:
    city_kw = _keyword_text(city)
    result = []
    for term in terms:
        term_kw = _keyword_text(term)
        located = f"{term_kw} {city_kw}".strip()
        for text, match in ((located, "exact"), (located, "phrase"), (term_kw, "phrase")):
            if text and len(text) <= KEYWORD_MAX_CHARS and len(text.split()) <= KEYWORD_MAX_WORDS:
                result.append({"text": text, "match_type": match})
    return result


def display_path(text: str) -> str:
    """A display-URL path of whole words within 15 characters ('' when even the first word is too long)."""
    words: list[str] = []
    for word in slugify_text(text, 200).split("-"):
        if len("-".join([*words, word])) > PATH_MAX:
            break
        words.append(word)
    while words and (len(words[-1]) == 1 or words[-1] in DANGLING):
        words.pop()
    return "-".join(words)


def split_budget(total_cents: int, weights: list[int]) -> list[int]:
    """Split cents by weight (largest remainder): the parts always sum to exactly total_cents."""
    raw = [Decimal(total_cents) * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (raw[i] - parts[i], -i), reverse=True)
    for i in by_remainder[: total_cents - sum(parts)]:
        parts[i] += 1
    return parts


def _budget_cents(daily_budget_eur: float) -> int:
    try:
        amount = Decimal(str(daily_budget_eur))
    except InvalidOperation as exc:
        raise ValueError(f"daily_budget_eur must be a number, got {daily_budget_eur!r}") from exc
    if not amount.is_finite() or not Decimal("1") <= amount <= Decimal("10000"):
        raise ValueError(f"daily_budget_eur must be between 1 and 10000 EUR, got {daily_budget_eur!r}")
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _themes(brief: Brief, vocab: dict[str, Any], ctx: dict[str, str], pages: list[str]) -> list[tuple[str, list[str]]]:
    themes = [(name.format_map(ctx), [t.format_map(ctx) for t in terms]) for name, terms in vocab["ad_themes"]]
    if brief.sector_family == "generic":
        # The customer's own list of services is the best theme source a generic sector has.
        themes += [(o[:1].upper() + o[1:], [o]) for o in offers_from_description(brief.description)[:3]]
    if "emergency" in pages and not any(page_kind(name) == "emergency" for name, _ in themes):
        word = EMERGENCY_WORDS[brief.language]
        keyword = ctx["sector"] if brief.sector_family == "generic" else vocab["keyword"]
        themes.append((word, [f"{keyword} urgence" if brief.language == "fr" else f"emergency {keyword}"]))
    return themes


def _page_url(final_url: str, pages_copy: list[dict[str, Any]], kinds: list[str], wanted: tuple[str, ...]) -> str:
    for page, kind in zip(pages_copy, kinds, strict=False):
        if kind in wanted and page.get("slug") and page["slug"] != "index":
            return f"{final_url}{page['slug']}.html"  # the file layout site.py renders
    return final_url


def build_campaign(
    *,
    brief: Brief,
    pages_copy: list[dict[str, Any]] | None = None,
    daily_budget_eur: float = 20.0,
    final_url: str | None = None,
) -> dict[str, Any]:
    """Keywords, ad groups and responsive search ads for the brief; budget split across groups in cents.

    final_url defaults to the Vercel production address the deploy step uses for the site's slug.
    """
    total_cents = _budget_cents(daily_budget_eur)
    final_url = final_url or f"https://{slugify_business(brief.business_name, brief.city)}.vercel.app/"
    final_url = final_url if final_url.endswith("/") else f"{final_url}/"
    pages_copy = pages_copy or []
    kinds = [page_kind(p.get("nav_label", "")) for p in pages_copy]
    vocab = sector_vocabulary(brief)
    ctx = copy_context(brief)
    lang = brief.language
    themes = _themes(brief, vocab, ctx, kinds)
    name_headline = fit_headline(brief.business_name, shorten_words=True)
    keyword = ctx["sector"] if brief.sector_family == "generic" else vocab["keyword"]
    shared_headlines = [_title_case(h.format_map(ctx), lang) for h in vocab["ad_headlines"]]
    # Section headings of a services page name the offers; other headings ("Our story") make poor ads.
    page_headlines = [
        _title_case(s["heading"], lang)
        for p, kind in zip(pages_copy, kinds, strict=False)
        if kind == "services"
        for s in p.get("sections", [])
    ]
    descriptions_pool = [d.format_map(ctx) for d in vocab["ad_descriptions"]]
    descriptions_pool += sentences(brief.description)[:2]

    groups = []
    seen_keywords: set[tuple[str, str]] = set()
    for position, (theme, terms) in enumerate(themes):
        keywords = [k for k in _keywords(terms, brief.city) if (k["text"], k["match_type"]) not in seen_keywords]
        seen_keywords.update((k["text"], k["match_type"]) for k in keywords)
        if not keywords:
            continue
        located = [f"{_title_case(t, lang)} {ctx['in_city']}" for t in terms] if brief.city else []
        headlines = _unique(
            [fit_headline(h) for h in located]
            + [name_headline, fit_headline(f"{_title_case(keyword, lang)} {ctx['in_city']}")]
            + [fit_headline(h) for h in shared_headlines]
            + [fit_headline(_title_case(t, lang)) for t in terms]
            + [fit_headline(h) for h in page_headlines]
            + [fit_headline(_title_case(vocab["cta"], lang))]
            + list(FALLBACK_HEADLINES[lang]),
            MAX_HEADLINES,
        )
        descriptions = _unique(
            [fit_description(d) for d in descriptions_pool[position % 2 :] + descriptions_pool[: position % 2]]
            + list(FALLBACK_DESCRIPTIONS[lang]),
            MAX_DESCRIPTIONS,
        )
        is_urgent = page_kind(theme) == "emergency"
        wanted = ("emergency",) if is_urgent else ("home",) if position == 0 else ("services", "home")
        url = _page_url(final_url, pages_copy, kinds, wanted)
        path1, path2 = display_path(brief.city), display_path(theme)
        groups.append(
            {
                "name": theme,
                "keywords": keywords,
                # The core group and urgent searches convert best, so they get a double share of the budget.
                "weight": 2 if position == 0 or is_urgent else 1,
                "ads": [
                    {
                        "headlines": headlines,
                        "descriptions": descriptions,
                        "path1": path1,
                        "path2": path2,
                        "final_url": url,
                    }
                ],
            }
        )
    if total_cents < len(groups):
        raise ValueError(f"a daily budget of {total_cents} cents cannot be split across {len(groups)} ad groups")
    for group, cents in zip(groups, split_budget(total_cents, [g.pop("weight") for g in groups]), strict=True):
        group["daily_budget_cents"] = cents
    return {
        "name": f"{brief.business_name} – {brief.city or ctx['noun']} – Search"[:255],  # noqa: RUF001
        "language": lang,
        "currency": "EUR",
        "daily_budget_cents": total_cents,
        "final_url": final_url,
        "locations": [brief.city] if brief.city else [],
        "negative_keywords": list(NEGATIVE_KEYWORDS[lang]),
        "ad_groups": groups,
    }


def validate_campaign(campaign: Any) -> list[str]:
    """Every Google Ads limit the campaign breaks, as readable messages; an empty list means valid."""
    if not isinstance(campaign, dict):
        return [f"campaign must be an object, got {type(campaign).__name__}"]
    problems: list[str] = []
    if not str(campaign.get("name", "")).strip():
        problems.append("campaign has no name")
    total = campaign.get("daily_budget_cents")
    if not isinstance(total, int) or total <= 0:
        problems.append(f"campaign daily_budget_cents must be a positive integer, got {total!r}")
    groups = campaign.get("ad_groups")
    if not isinstance(groups, list) or not groups:
        return [*problems, "campaign has no ad groups"]
    split = [g.get("daily_budget_cents") for g in groups if isinstance(g, dict)]
    if all(isinstance(c, int) for c in split) and isinstance(total, int) and sum(split) != total:
        problems.append(f"ad group budgets sum to {sum(split)} cents, not the campaign's {total}")
    for group in groups:
        if not isinstance(group, dict):
            problems.append("every ad group must be an object")
            continue
        problems.extend(_group_problems(group))
    return problems


def _group_problems(group: dict[str, Any]) -> list[str]:
    where = f"ad group {group.get('name')!r}"
    problems = [] if str(group.get("name", "")).strip() else ["an ad group has no name"]
    if not isinstance(group.get("daily_budget_cents"), int) or group["daily_budget_cents"] < 0:
        problems.append(f"{where}: daily_budget_cents must be a non-negative integer")
    keywords = group.get("keywords") or []
    if not keywords:
        problems.append(f"{where}: no keywords")
    for kw in keywords:
        text = str(kw.get("text", ""))
        if not text or len(text) > KEYWORD_MAX_CHARS or len(text.split()) > KEYWORD_MAX_WORDS:
            problems.append(
                f"{where}: keyword {text!r} must have 1-{KEYWORD_MAX_CHARS} chars, <= {KEYWORD_MAX_WORDS} words"
            )
        if kw.get("match_type") not in MATCH_TYPES:
            problems.append(f"{where}: keyword {text!r} has unknown match type {kw.get('match_type')!r}")
    ads = group.get("ads") or []
    if not ads:
        problems.append(f"{where}: no ads")
    for number, ad in enumerate(ads, start=1):
        problems.extend(f"{where}, ad {number}: {p}" for p in _ad_problems(ad))
    return problems


def _ad_problems(ad: dict[str, Any]) -> list[str]:
    problems = []
    for field, low, high, limit in (
        ("headlines", MIN_HEADLINES, MAX_HEADLINES, HEADLINE_MAX),
        ("descriptions", MIN_DESCRIPTIONS, MAX_DESCRIPTIONS, DESCRIPTION_MAX),
    ):
        texts = ad.get(field) or []
        if not low <= len(texts) <= high:
            problems.append(f"{len(texts)} {field} (Google Ads allows {low}-{high})")
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                problems.append(f"empty entry in {field}")
            elif len(text) > limit:
                problems.append(f"{field[:-1]} {text!r} has {len(text)} characters (max {limit})")
        folded = [t.casefold() for t in texts if isinstance(t, str)]
        duplicates = sorted({t for t in folded if folded.count(t) > 1})
        if duplicates:
            problems.append(f"duplicate {field}: {', '.join(duplicates)}")
    for field in ("path1", "path2"):
        if len(str(ad.get(field, ""))) > PATH_MAX:
            problems.append(f"{field} {ad.get(field)!r} is longer than {PATH_MAX} characters")
    if not re.match(r"^https?://[^\s/]+", str(ad.get("final_url", ""))):
        problems.append(f"final URL {ad.get('final_url')!r} is not an absolute http(s) URL")
    return problems


class _SafeWriter(csv.DictWriter):
    """Every cell through spreadsheet_safe: names come from the customer's brief."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: spreadsheet_safe(value) for key, value in rowdict.items()})


def campaign_csv(campaign: dict[str, Any]) -> str:
    """Google Ads Editor import: a campaign row, its location and negative keyword rows, then per ad group its row,
    keyword rows and ad rows."""
    out = io.StringIO()
    writer = _SafeWriter(out, fieldnames=CSV_HEADER, lineterminator="\r\n")
    writer.writeheader()
    name = campaign["name"]
    writer.writerow(
        {
            "Campaign": name,
            "Campaign Type": "Search",
            "Campaign Daily Budget": f"{Decimal(campaign['daily_budget_cents']) / 100:.2f}",
            "Networks": NETWORKS,
            "Languages": campaign["language"],
            # Imported paused: nobody spends the customer's money before a person has reviewed the campaign.
            "Status": "Paused",
        }
    )
    # Editor wants one row per targeted location: without it the campaign would show worldwide.
    for location in campaign.get("locations", []):
        writer.writerow({"Campaign": name, "Location": location})
    for negative in campaign.get("negative_keywords", []):
        writer.writerow({"Campaign": name, "Keyword": negative, "Criterion Type": "Campaign Negative Broad"})
    for group in campaign["ad_groups"]:
        writer.writerow({"Campaign": name, "Ad Group": group["name"], "Status": "Enabled"})
        for kw in group["keywords"]:
            row = {"Campaign": name, "Ad Group": group["name"], "Keyword": kw["text"], "Status": "Enabled"}
            writer.writerow({**row, "Criterion Type": MATCH_TYPES[kw["match_type"]]})
        for ad in group["ads"]:
            row = {"Campaign": name, "Ad Group": group["name"], "Ad type": "Responsive search ad"}
            row.update({f"Headline {n}": text for n, text in enumerate(ad["headlines"], start=1)})
            row.update({f"Description {n}": text for n, text in enumerate(ad["descriptions"], start=1)})
            row.update(
                {"Path 1": ad["path1"], "Path 2": ad["path2"], "Final URL": ad["final_url"], "Status": "Enabled"}
            )
            writer.writerow(row)
    return out.getvalue()


def _money(cents: int, language: str) -> str:
    amount = f"{Decimal(cents) / 100:.2f}"
    return f"{amount.replace('.', ',')}\N{NO-BREAK SPACE}€" if language == "fr" else f"€{amount}"


def campaign_summary(campaign: dict[str, Any], language: str) -> str:
    """A few sentences for the customer's 'site live' email."""
    if language not in ("fr", "en"):
        raise ValueError(f"campaign_summary: language must be 'fr' or 'en', got {language!r}")
    groups = campaign["ad_groups"]
    keywords = sum(len(g["keywords"]) for g in groups)
    ads = sum(len(g["ads"]) for g in groups)
    split = ", ".join(f"{g['name']} {_money(g['daily_budget_cents'], language)}" for g in groups)
    total = _money(campaign["daily_budget_cents"], language)
    where = ", ".join(campaign.get("locations") or [])
    if language == "fr":
        lines = [
            f"Votre campagne Google Ads « {campaign['name']} » est prête : {len(groups)} groupes d'annonces, "
            f"{keywords} mots-clés et {ads} annonces responsives.",
            f"Budget : {total} par jour ({split}).",
        ]
        if where:
            lines.append(f"Zone visée : {where}.")
        lines.append("Elle est créée en pause : rien n'est dépensé avant votre accord.")
    else:
        lines = [
            f"Your Google Ads campaign “{campaign['name']}” is ready: {len(groups)} ad groups, {keywords} keywords "
            f"and {ads} responsive search ads.",
            f"Budget: {total} per day ({split}).",
        ]
        if where:
            lines.append(f"Target area: {where}.")
        lines.append("It is created paused: nothing is spent until you approve it.")
    return "\n".join(lines)
