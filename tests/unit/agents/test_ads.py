import copy
import csv
import io

import pytest

from agents.ads import (
    CSV_HEADER,
    DESCRIPTION_MAX,
    HEADLINE_MAX,
    build_campaign,
    campaign_csv,
    campaign_summary,
    display_path,
    fit_description,
    fit_headline,
    split_budget,
    validate_campaign,
)
from agents.copywriting import OfflineCopywriter
from agents.design import generate_design
from orders.brief import Brief
from tests.support.briefs import FRENCH_LEGAL, load_briefs

VALID = load_briefs()[:3]
IDS = [d["business_name"] for d in VALID]


def campaign_for(data: dict, budget: float = 20.0) -> dict:
    brief = Brief.from_dict(data)
    design = generate_design(brief)
    pages = [
        OfflineCopywriter().write_page(brief=brief, design=design, page=p, index=i, idempotency_key="k")
        for i, p in enumerate(brief.pages)
    ]
    return build_campaign(brief=brief, pages_copy=pages, daily_budget_eur=budget)


@pytest.mark.parametrize("data", VALID, ids=IDS)
def test_ads_respect_every_google_ads_limit(data):
    campaign = campaign_for(data)
    assert validate_campaign(campaign) == []
    assert len(campaign["ad_groups"]) >= 3
    for group in campaign["ad_groups"]:
        for ad in group["ads"]:
            headlines, descriptions = ad["headlines"], ad["descriptions"]
            assert 3 <= len(headlines) <= 15
            assert 2 <= len(descriptions) <= 4
            assert all(0 < len(h) <= HEADLINE_MAX for h in headlines)
            assert all(0 < len(d) <= DESCRIPTION_MAX for d in descriptions)
            assert len({h.casefold() for h in headlines}) == len(headlines)
            assert len({d.casefold() for d in descriptions}) == len(descriptions)
            assert len(ad["path1"]) <= 15 and len(ad["path2"]) <= 15
            assert ad["final_url"].startswith("https://")


@pytest.mark.parametrize("data", VALID, ids=IDS)
def test_keywords_combine_sector_city_and_services_with_match_types(data):
    campaign = campaign_for(data)
    keywords = [(k["text"], k["match_type"]) for g in campaign["ad_groups"] for k in g["keywords"]]
    city = data["city"].lower()
    assert any(city in text for text, _ in keywords)
    assert {match for _, match in keywords} == {"exact", "phrase"}
    assert len(keywords) == len(set(keywords))  # no keyword competes with itself across ad groups
    assert all(len(text) <= 80 and len(text.split()) <= 10 for text, _ in keywords)


def test_ad_groups_follow_the_sector_service_themes():
    names = {d["business_name"]: [g["name"] for g in campaign_for(d)["ad_groups"]] for d in VALID}
    assert names["Boulangerie Martin"] == ["Boulangerie", "Pain au levain", "Pâtisserie", "Viennoiseries"]
    assert names["Leeds Rapid Plumbing"][:2] == ["Plumber", "Emergency"]
    assert "Droit du travail" in names["Cabinet Durand & Associés"]
    keywords = {k["text"] for g in campaign_for(VALID[0])["ad_groups"] for k in g["keywords"]}
    assert {"boulangerie lyon", "pain au levain lyon", "croissant pur beurre lyon"} <= keywords


def test_emergency_ads_land_on_the_emergency_page():
    campaign = campaign_for(VALID[1])
    urls = {g["name"]: g["ads"][0]["final_url"] for g in campaign["ad_groups"]}
    assert urls["Emergency"].endswith("/emergency-call-out.html")
    assert urls["Plumber"] == campaign["final_url"]
    assert urls["Boilers"].endswith("/services.html")


@pytest.mark.parametrize("budget", [20.0, 7.33, 1.0, 99.99, 333.0])
@pytest.mark.parametrize("data", VALID, ids=IDS)
def test_budget_split_sums_exactly_to_the_daily_budget(data, budget):
    campaign = campaign_for(data, budget)
    assert campaign["daily_budget_cents"] == round(budget * 100)
    assert sum(g["daily_budget_cents"] for g in campaign["ad_groups"]) == campaign["daily_budget_cents"]
    assert all(g["daily_budget_cents"] > 0 for g in campaign["ad_groups"])


def test_split_budget_uses_largest_remainders():
    assert split_budget(100, [1, 1, 1]) == [34, 33, 33]
    assert split_budget(2000, [2, 2, 1, 1]) == [667, 667, 333, 333]
    assert split_budget(7, [5]) == [7]


@pytest.mark.parametrize("budget", [0, -5, 0.5, float("nan"), float("inf"), 10_001, "abc"])
def test_nonsense_budgets_are_refused(budget):
    with pytest.raises(ValueError, match="daily_budget_eur"):
        build_campaign(brief=Brief.from_dict(VALID[0]), daily_budget_eur=budget)


@pytest.mark.parametrize("data", VALID, ids=IDS)
def test_csv_parses_and_has_one_row_per_keyword_and_per_ad(data):
    campaign = campaign_for(data)
    rows = list(csv.DictReader(io.StringIO(campaign_csv(campaign))))
    with io.StringIO(campaign_csv(campaign)) as handle:
        header = next(csv.reader(handle))
    assert header == CSV_HEADER
    for column in ("Campaign", "Campaign Daily Budget", "Ad Group", "Keyword", "Criterion Type", "Final URL"):
        assert column in header
    assert [f"Headline {n}" for n in range(1, 16)] == header[10:25]
    assert [f"Description {n}" for n in range(1, 5)] == header[25:29]
    keyword_rows = [r for r in rows if r["Ad Group"] and r["Keyword"]]
    ad_rows = [r for r in rows if r["Ad type"] == "Responsive search ad"]
    assert len(keyword_rows) == sum(len(g["keywords"]) for g in campaign["ad_groups"])
    assert len(ad_rows) == sum(len(g["ads"]) for g in campaign["ad_groups"])
    assert {r["Criterion Type"] for r in keyword_rows} <= {"Exact", "Phrase", "Broad"}
    assert rows[0]["Campaign Daily Budget"] == "20.00"
    assert rows[0]["Status"] == "Paused"
    assert all(r["Campaign"] == campaign["name"] for r in rows)
    first_ad = campaign["ad_groups"][0]["ads"][0]
    assert ad_rows[0]["Headline 1"] == first_ad["headlines"][0]
    assert ad_rows[0]["Final URL"] == first_ad["final_url"]


def test_validate_campaign_reports_every_violation():
    campaign = copy.deepcopy(campaign_for(VALID[1]))
    ad = campaign["ad_groups"][0]["ads"][0]
    ad["headlines"] = ["x" * 31, "Same", "same"]
    ad["descriptions"] = ["d"] * 5
    ad["path1"] = "a-very-long-display-path"
    ad["final_url"] = "/relative"
    campaign["ad_groups"][1]["keywords"][0]["match_type"] = "fuzzy"
    campaign["ad_groups"][1]["daily_budget_cents"] += 1
    problems = "\n".join(validate_campaign(campaign))
    assert "has 31 characters (max 30)" in problems
    assert "duplicate headlines: same" in problems
    assert "5 descriptions (Google Ads allows 2-4)" in problems
    assert "duplicate descriptions: d" in problems
    assert "path1" in problems
    assert "final URL" in problems
    assert "unknown match type 'fuzzy'" in problems
    assert "budgets sum to 2001 cents" in problems
    assert validate_campaign("nope") == ["campaign must be an object, got str"]
    assert validate_campaign({"name": "x", "daily_budget_cents": 100, "ad_groups": []}) == ["campaign has no ad groups"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cabinet Durand & Associés", "Cabinet Durand & Associés"),
        ("Cabinet Durand & Associés Avocats Bordeaux", "Cabinet Durand & Associés"),
        ("Boulangerie Pâtisserie de la Gare Saint-Jean", "Boulangerie Pâtisserie"),
        ("Supercalifragilisticexpialidocious Enterprises", None),
    ],
)
def test_long_names_are_shortened_at_word_boundaries_never_on_a_dangling_word(text, expected):
    assert fit_headline(text, shorten_words=True) == expected


def test_other_headlines_that_do_not_fit_are_dropped_not_cut():
    assert fit_headline("Plombier disponible rapidement à Lyon") is None


def test_descriptions_are_cut_at_a_sentence_or_clause_or_dropped():
    long_sentence = (
        "Gas Safe registered plumbers covering Leeds and West Yorkshire. Boiler repairs, bathroom fitting and more."
    )
    assert fit_description(long_sentence) == "Gas Safe registered plumbers covering Leeds and West Yorkshire."
    clause = (
        "Boulangerie artisanale depuis 1987 : pain au levain, viennoiseries pur beurre, gâteaux de saison et tartes."
    )
    assert fit_description(clause) == "Boulangerie artisanale depuis 1987 : pain au levain, viennoiseries pur beurre."
    assert fit_description("word " * 30) is None


def test_display_paths_keep_whole_words():
    assert display_path("Saint-Germain-en-Laye") == "saint-germain"
    assert display_path("Architecte d'intérieur") == "architecte"
    assert display_path("Lyon") == "lyon"


def test_campaign_uses_the_brief_language():
    french = campaign_for(VALID[0])
    english = campaign_for(VALID[1])
    assert french["language"] == "fr" and english["language"] == "en"
    assert "Boulangerie à Lyon" in french["ad_groups"][0]["ads"][0]["headlines"]
    assert "Plumber in Leeds" in english["ad_groups"][0]["ads"][0]["headlines"]


def test_generic_sector_builds_ad_groups_from_the_description():
    brief = Brief.from_dict(
        {
            **FRENCH_LEGAL,
            "business_name": "Atelier Lumière Architecture Intérieure et Rénovation",
            "sector": "architecte d'intérieur",
            "city": "Saint-Germain-en-Laye",
            "description": "Aménagement de cuisines, rénovation d'appartements, conseil en couleurs.",
            "contact_email": "a@lumiere.example",
        }
    )
    campaign = build_campaign(brief=brief)
    assert validate_campaign(campaign) == []
    assert [g["name"] for g in campaign["ad_groups"]][:2] == ["Architecte d'intérieur", "Aménagement de cuisines"]
    assert "Atelier Lumière Architecture" in campaign["ad_groups"][0]["ads"][0]["headlines"]
    assert campaign["final_url"].startswith("https://atelier-lumiere-")


@pytest.mark.parametrize(
    ("language", "words"), [("fr", ["Budget", "par jour", "20,00"]), ("en", ["Budget", "per day", "€20.00"])]
)
def test_summary_is_short_and_in_the_customer_language(language, words):
    summary = campaign_summary(campaign_for(VALID[1]), language)
    assert all(word in summary for word in words)
    assert len(summary) < 600
    with pytest.raises(ValueError, match="language"):
        campaign_summary(campaign_for(VALID[1]), "de")


# Column headers (or one of their documented alternates) from Google's "Import a CSV file in Google Ads Editor",
# section "CSV file columns", and the responsive search ad columns Editor exports. Editor ignores case and spaces.
EDITOR_COLUMNS = (
    {"campaign", "campaign name"},
    {"campaign type"},
    {"campaign daily budget", "daily budget", "campaign budget", "budget"},
    {"networks"},
    {"language targeting", "language", "languages"},
    {"location", "geo targeting"},
    {"ad group", "ad group name"},
    {"keyword"},
    {"criterion type"},
    {"ad type"},
    *({f"headline {n}"} for n in range(1, 16)),
    *({f"description {n}"} for n in range(1, 5)),
    {"path 1"},
    {"path 2"},
    {"final url"},
    {"status"},
)
EDITOR_NETWORKS = {"google search", "search partners", "search", "display", "select"}


def _editor_key(header: str) -> str:
    return " ".join(header.lower().replace("_", " ").split())


def test_csv_header_uses_only_google_ads_editor_column_names():
    with io.StringIO(campaign_csv(campaign_for(VALID[0]))) as handle:
        header = [_editor_key(h) for h in next(csv.reader(handle))]
    assert len(header) == len(EDITOR_COLUMNS), "one column per documented Editor field, no invented ones"
    for names, column in zip(EDITOR_COLUMNS, header, strict=True):
        assert column in names, f"{column!r} is not an Editor column name ({sorted(names)})"


@pytest.mark.parametrize("data", VALID, ids=IDS)
def test_csv_targets_the_brief_city_on_a_location_row_and_the_google_search_network(data):
    rows = list(csv.DictReader(io.StringIO(campaign_csv(campaign_for(data)))))
    campaign_row = rows[0]
    assert campaign_row["Networks"] == "Google Search"  # Editor's exact spelling
    assert {_editor_key(n) for n in campaign_row["Networks"].split(";")} <= EDITOR_NETWORKS
    assert campaign_row["Languages"] == data["language"]
    location_rows = [r for r in rows if r["Location"]]
    assert [r["Location"] for r in location_rows] == [data["city"]]
    (location,) = location_rows
    # A location row names its campaign and nothing else: any other cell would edit another item.
    assert location["Campaign"] == campaign_row["Campaign"]
    assert {k for k, v in location.items() if v} == {"Campaign", "Location"}


def test_a_brief_without_a_city_gets_no_location_row():
    rows = list(csv.DictReader(io.StringIO(campaign_csv(campaign_for({**VALID[1], "city": ""})))))
    assert [r for r in rows if r["Location"]] == []
