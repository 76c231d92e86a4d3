"""GS1 Digital Link: GTIN check digits, lot and serial rules, URI parsing and building.

Cross-checked with the ``biip`` package, an independent implementation of the same standards.
"""

from __future__ import annotations

import contextlib
import string
from datetime import date

import pytest
from biip import parse as biip_parse
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gtin import Gtin
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.api.services.digital_link import (
    CANONICAL_DOMAIN,
    DigitalLink,
    DigitalLinkError,
    gtin_check_digit,
    normalize_gtin,
)

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
GTIN = "06901234567892"  # from STANDARDS.md


# --------------------------------------------------------------------------------------------
# GTINs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gtin", "normalised"),
    [
        ("06901234567892", "06901234567892"),
        ("6901234567892", "06901234567892"),  # GTIN-13
        ("4006381333931", "04006381333931"),  # GTIN-13
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        ("96385074", "00000096385074"),  # GTIN-8
        ("10614141000415", "10614141000415"),  # GTIN-14 with indicator digit 1
    ],
)
def test_valid_gtins_are_normalised_to_14_digits(gtin: str, normalised: str) -> None:
    assert normalize_gtin(gtin) == normalised
    assert DigitalLink(gtin, "L1").gtin == normalised


def test_check_digit_weights_run_from_the_rightmost_data_digit() -> None:
    # 0690123456789: weights 3,1,3,... from the right: 9*3 + 8 + 7*3 + 6 + 5*3 + 4 + 3*3 + 2
    # + 1*3 + 0 + 9*3 + 6 + 0*3 = 148 -> (10 - 8) % 10 = 2.
    assert gtin_check_digit("0690123456789") == 2
    assert gtin_check_digit("0000000000000") == 0
    assert gtin_check_digit("9638507") == 4


def test_bad_check_digit_names_the_expected_digit() -> None:
    with pytest.raises(
        DigitalLinkError, match=r"^GTIN 06901234567891 has check digit 1, expected 2$"
    ):
        normalize_gtin("06901234567891")


@pytest.mark.parametrize(
    ("gtin", "message"),
    [
        ("", "only the digits"),
        ("0690123456789X", "only the digits"),
        (" 6901234567892", "only the digits"),
        ("\u0669" * 13, "only the digits"),  # ARABIC-INDIC NINE is a digit, but not ASCII
        ("6901234567", "has 10 digits, expected 8, 12, 13 or 14"),
        ("069012345678920", "has 15 digits"),
    ],
)
def test_malformed_gtins_are_refused(gtin: str, message: str) -> None:
    with pytest.raises(DigitalLinkError, match=message):
        normalize_gtin(gtin)


def test_non_string_gtin_is_refused() -> None:
    with pytest.raises(DigitalLinkError, match="must be a string"):
        normalize_gtin(6901234567892)  # type: ignore[arg-type]


@given(st.text(alphabet=string.digits, min_size=13, max_size=13))
def test_check_digit_agrees_with_biip(data: str) -> None:
    gtin = data + str(gtin_check_digit(data))
    assert Gtin.parse(gtin).check_digit == int(gtin[-1])
    wrong = data + str((int(gtin[-1]) + 1) % 10)
    with pytest.raises(DigitalLinkError, match="has check digit"):
        normalize_gtin(wrong)


# --------------------------------------------------------------------------------------------
# Lots, serials and the other qualifiers
# --------------------------------------------------------------------------------------------


def test_every_character_of_set_82_is_allowed_and_percent_encoded_as_gs1_asks() -> None:
    for start in range(0, len(CSET82), 20):
        lot = CSET82[start : start + 20]
        link = DigitalLink(GTIN, lot)
        assert DigitalLink.parse(link.uri()) == link
    # The reserved characters of set 82 are encoded; letters, digits, "-", "." and "_" are not.
    path = DigitalLink(GTIN, "a-b.c_d!\"%&'()*+,/").path()
    assert path == f"/01/{GTIN}/10/a-b.c_d%21%22%25%26%27%28%29%2A%2B%2C%2F"
    assert DigitalLink(GTIN, ":;<=>?").path().endswith("/10/%3A%3B%3C%3D%3E%3F")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lot": ""}, "^lot is empty$"),
        ({"lot": "A" * 21}, "^lot longer than 20 characters"),
        ({"serial": "S" * 21}, "^serial longer than 20 characters"),
        ({"cpv": "V" * 21}, "^consumer product variant longer than 20"),
        ({"tpx": "T" * 29}, "^third-party serial longer than 28"),
        ({"lot": "LOT 1"}, "contains ' ', which is not in the GS1 AI character set 82"),
        ({"lot": "L#1"}, "contains '#'"),
        ({"lot": "L~1"}, "contains '~'"),
        ({"lot": "caf\u00e9"}, "contains '\u00e9'"),
        ({"serial": "a\nb"}, "contains '\\\\n'"),
        ({"expiry": "2601"}, "6 digits YYMMDD"),
        ({"expiry": "261301"}, "month 13"),
        ({"expiry": "260001"}, "month 00"),
        ({"expiry": "260132"}, "day 32"),
        ({"expiry": "260230"}, "day 30, month 02 has 28"),
        ({"expiry": "250229"}, "day 29, month 02 has 28"),
    ],
)
def test_bad_qualifiers_are_refused(kwargs: dict[str, str], message: str) -> None:
    fields = {"lot": "L1", **kwargs}
    with pytest.raises(DigitalLinkError, match=message):
        DigitalLink(GTIN, **fields)


def test_longest_values_are_accepted() -> None:
    link = DigitalLink(GTIN, "L" * 20, serial="S" * 20, cpv="V" * 20, tpx="T" * 28)
    assert DigitalLink.parse(link.uri()) == link


def test_expiry_dates() -> None:
    assert DigitalLink(GTIN, "L", expiry="240229").expiry == "240229"
    assert DigitalLink(GTIN, "L", expiry="260200").expiry_date(date(2026, 1, 1)) == date(
        2026, 2, 28
    )
    assert DigitalLink(GTIN, "L", expiry="280200").expiry_date(date(2026, 1, 1)) == date(
        2028, 2, 29
    )
    assert DigitalLink(GTIN, "L").expiry_date(date(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("yymmdd", "today", "year"),
    [
        ("260115", date(2026, 6, 1), 2026),
        ("760115", date(2026, 6, 1), 2076),  # +50: this century
        ("770115", date(2026, 6, 1), 1977),  # +51: the previous one
        ("990115", date(2001, 6, 1), 1999),
        ("010115", date(2099, 6, 1), 2101),  # -98: the next century
        ("490115", date(2099, 6, 1), 2149),  # -50: the next century
        ("500115", date(2099, 6, 1), 2050),  # -49: this century
    ],
)
def test_expiry_century_follows_the_gs1_sliding_window(yymmdd: str, today: date, year: int) -> None:
    expiry = DigitalLink(GTIN, "L", expiry=yymmdd).expiry_date(today)
    assert expiry == date(year, 1, 15)


# --------------------------------------------------------------------------------------------
# Parsing and building URIs
# --------------------------------------------------------------------------------------------


def test_parse_the_standard_form() -> None:
    link = DigitalLink.parse(f"https://farm.example/01/{GTIN}/10/LOT-42/21/S%2F7?17=260131")
    assert link == DigitalLink(GTIN, "LOT-42", serial="S/7", expiry="260131")
    assert (
        link.canonical_uri == f"https://{CANONICAL_DOMAIN}/01/{GTIN}/10/LOT-42/21/S%2F7?17=260131"
    )
    assert (
        link.uri("farm.example") == f"https://farm.example/01/{GTIN}/10/LOT-42/21/S%2F7?17=260131"
    )
    assert link.uri("farm.example:8443", "p/q").startswith("https://farm.example:8443/p/q/01/")


@pytest.mark.parametrize(
    "uri",
    [
        f"https://farm.example/01/{GTIN}/10/L1",
        f"http://farm.example/01/{GTIN}/10/L1",
        f"https://farm.example:8443/shop/01/{GTIN}/10/L1",
        f"https://farm.example/a/b/c/01/{GTIN}/10/L1",
        f"https://farm.example/01/01/{GTIN}/10/L1",  # a prefix that is itself "01"
        "https://farm.example/01/6901234567892/10/L1",  # GTIN-13
        f"https://farm.example/01/{GTIN}/10/L1?linkType=all&lang=zh",
        f"https://farm.example/01/{GTIN}/10/L1#fragment",
        f"https://farm.example/01/{GTIN}/10/%4C1",
    ],
)
def test_parse_accepts_prefixes_short_gtins_and_resolver_parameters(uri: str) -> None:
    assert DigitalLink.parse(uri) == DigitalLink(GTIN, "L1")


def test_parse_without_lot_and_with_every_qualifier() -> None:
    assert DigitalLink.parse(f"https://x.example/01/{GTIN}") == DigitalLink(GTIN)
    uri = f"https://x.example/01/{GTIN}/22/V/10/L/21/S/235/T"
    assert DigitalLink.parse(uri) == DigitalLink(GTIN, "L", serial="S", cpv="V", tpx="T")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"ftp://x.example/01/{GTIN}/10/L", "https"),
        (f"/01/{GTIN}/10/L", "https"),
        (f"https:///01/{GTIN}/10/L", "no domain"),
        (f"https://x.example:port/01/{GTIN}/10/L", "not a URI"),
        (f"https://x.example/01/{GTIN}/10/L ", "space or control"),
        (f"https://x.example/01/{GTIN}/10/L\n", "space or control"),
        ("https://x.example/", "no /01/<GTIN>"),
        (f"https://x.example/01/{GTIN}/10", "no /01/<GTIN>"),
        (f"https://x.example/01/{GTIN}/10/L/", "no /01/<GTIN>"),
        (f"https://x.example/gtin/{GTIN}/lot/L", "no /01/<GTIN>"),
        ("https://x.example/01/06901234567891/10/L", "has check digit 1, expected 2"),
        (f"https://x.example/01/{GTIN}/21/S/10/L", "out of order"),
        (f"https://x.example/01/{GTIN}/10/L/10/M", "repeated or out of order"),
        (f"https://x.example/01/{GTIN}/11/260101", "not a key qualifier"),
        (f"https://x.example/01/{GTIN}/10/{'A' * 21}", "lot longer than 20 characters"),
        (f"https://x.example/01/{GTIN}/10/", "lot is empty"),
        (f"https://x.example/01/{GTIN}/10/L%2", "'%' not followed by two hex digits"),
        (f"https://x.example/01/{GTIN}/10/L%zz", "'%' not followed by two hex digits"),
        (f"https://x.example/01/{GTIN}/10/L%FF", "UTF-8"),
        (f"https://x.example/01/{GTIN}/10/L%23", "contains '#'"),
        (f"https://x.example/01/{GTIN}/10/L?17=261301", "month 13"),
        (f"https://x.example/01/{GTIN}/10/L?17=260101&17=260102", "more than once"),
        (
            f"https://x.example/01/{GTIN}/10/L?3103=000195",
            r"unsupported GS1 data attribute \?3103=",
        ),
    ],
)
def test_parse_refuses_malformed_links_with_a_reason(uri: str, message: str) -> None:
    with pytest.raises(DigitalLinkError, match=message):
        DigitalLink.parse(uri)


@pytest.mark.parametrize(
    ("domain", "prefix"), [("", ""), ("a/b", ""), ("x.example", "/p"), ("x.example", "p/")]
)
def test_uri_refuses_bad_domains_and_prefixes(domain: str, prefix: str) -> None:
    with pytest.raises(DigitalLinkError):
        DigitalLink(GTIN, "L").uri(domain, prefix)


# --------------------------------------------------------------------------------------------
# Properties, and agreement with biip
# --------------------------------------------------------------------------------------------

_gtins = st.text(alphabet=string.digits, min_size=13, max_size=13).map(
    lambda d: d + str(gtin_check_digit(d))
)
_values = st.text(alphabet=CSET82, min_size=1, max_size=20)


@st.composite
def _expiries(draw: st.DrawFn) -> str:
    yy = draw(st.integers(0, 99))
    mm = draw(st.integers(1, 12))
    days = 29 if mm == 2 and yy % 4 == 0 else (28 if mm == 2 else 30 if mm in (4, 6, 9, 11) else 31)
    return f"{yy:02d}{mm:02d}{draw(st.integers(0, days)):02d}"


_links = st.builds(
    DigitalLink,
    gtin=_gtins,
    lot=_values,
    serial=st.none() | _values,
    cpv=st.none() | _values,
    tpx=st.none() | st.text(alphabet=CSET82, min_size=1, max_size=28),
    expiry=st.none() | _expiries(),
)
_prefixes = st.lists(st.text(alphabet=string.ascii_lowercase + "01", min_size=1, max_size=4)).map(
    "/".join
)


@settings(max_examples=examples(300))
@given(_links, _prefixes)
def test_uri_round_trips(link: DigitalLink, prefix: str) -> None:
    assert DigitalLink.parse(link.uri("farm.example", prefix)) == link
    assert DigitalLink.parse(link.canonical_uri) == link
    assert DigitalLink.parse(link.canonical_uri).canonical_uri == link.canonical_uri


@settings(max_examples=examples(300))
@given(_links)
def test_biip_reads_our_uris_as_we_do(link: DigitalLink) -> None:
    parsed = GS1DigitalLinkURI.parse(link.uri("farm.example"))
    values = {es.ai.ai: es.value for es in parsed.element_strings}
    expected = {
        "01": link.gtin,
        "22": link.cpv,
        "10": link.lot,
        "21": link.serial,
        "235": link.tpx,
        "17": link.expiry,
    }
    assert values == {ai: v for ai, v in expected.items() if v is not None}
    assert parsed.as_canonical_uri() == link.canonical_uri


@settings(max_examples=examples(300))
@given(_links)
def test_we_read_biips_canonical_uris(link: DigitalLink) -> None:
    biip_uri = GS1DigitalLinkURI.parse(link.canonical_uri).as_uri(domain="farm.example")
    assert DigitalLink.parse(biip_uri) == link


@given(_gtins, st.integers(1, 9))
def test_biip_reports_what_we_refuse_as_a_gtin_error(gtin: str, shift: int) -> None:
    wrong = gtin[:-1] + str((int(gtin[-1]) + shift) % 10)
    uri = f"https://farm.example/01/{wrong}/10/L1"
    with pytest.raises(DigitalLinkError, match="has check digit"):
        DigitalLink.parse(uri)
    # biip does not raise for a bad check digit: it leaves gtin unset and says why.
    result = biip_parse(uri)
    assert result.gtin is None
    assert result.gtin_error is not None
    assert "check digit" in result.gtin_error


@settings(max_examples=examples(500))
@given(st.text(max_size=80) | st.builds("https://x.example/01/{}".format, st.text(max_size=60)))
def test_parse_raises_only_digital_link_errors(text: str) -> None:
    with contextlib.suppress(DigitalLinkError):
        DigitalLink.parse(text)
