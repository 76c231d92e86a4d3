"""Tie a community's pledge mints to the campaigns they name (``docs/community.md``, section 4).

A ``pledge`` entry records the campaign (GCN), the pledge ID, the hash of the campaign's
``issue`` entry for that pledge and the amount paid. The community replay alone can only check
that each pledge mints once; a verifier that also holds the campaign's entries (the audit does)
checks, with :func:`campaign_pledge_check`, that the issue entry exists, is that campaign's issue
of that pledge to this member, and that the amount is the pledge's coupons at the terms' price in
the community's currency.
"""

from __future__ import annotations

from collections.abc import Iterable

from farmtrace.commerce.community.entries import CommunityEntry
from farmtrace.commerce.community.replay import PledgeCheck
from farmtrace.commerce.community.rules import CommunityRules
from farmtrace.commerce.entries import CampaignEntry, fingerprint
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.terms import CampaignTerms, parse_terms

__all__ = ["campaign_pledge_check"]


def campaign_pledge_check(entries: Iterable[CampaignEntry]) -> PledgeCheck:
    """A :data:`~farmtrace.commerce.community.replay.PledgeCheck` over campaign entries (the
    ``open`` and ``issue`` entries of every campaign the community's pledges name; others are
    ignored). The entries are taken as given: check them with the campaign replay first."""
    terms: dict[str, CampaignTerms] = {}
    issues: dict[str, CampaignEntry] = {}
    for entry in entries:
        if entry.op == "open":
            try:
                terms[entry.campaign] = parse_terms(entry.body["terms"])
            except CommerceError:
                continue  # the campaign replay names it; here the campaign is just unknown
        elif entry.op == "issue":
            issues[entry.state] = entry

    def check(entry: CommunityEntry, rules: CommunityRules) -> str | None:
        body = entry.body
        issue = issues.get(body["issue_sha256"])
        if issue is None:
            return f"its issue entry {body['issue_sha256']} is not among the campaign's entries"
        if issue.campaign != body["campaign"] or issue.body["pledge"] != body["pledge"]:
            return "its issue entry is not the campaign's issue of that pledge"
        if issue.body["holder"] != body["member"]:
            holder = fingerprint(bytes.fromhex(issue.body["holder"]))
            return f"the pledge's coupons were issued to {holder}, not to the member"
        campaign_terms = terms.get(issue.campaign)
        if campaign_terms is None:
            return f"the terms of campaign {issue.campaign} are unknown"
        if campaign_terms.currency != rules.currency:
            return (
                f"the campaign's price is in {campaign_terms.currency}, the community's "
                f"currency is {rules.currency}"
            )
        count = issue.body["count"]
        owed = count * campaign_terms.price
        if body["amount"] != owed:
            return (
                f"amount {body['amount']} is not the pledge's {count} coupons at "
                f"{campaign_terms.price} = {owed}"
            )
        return None

    return check
