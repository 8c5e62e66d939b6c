from __future__ import annotations

import pytest

from bounced.core.addresses import normalise_address
from bounced.core.model import ReadError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("Jane@Example.COM", "jane@example.com"),
        ('"Jane Doe" <Jane@Example.com>', "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ("<jane@example.com>", "jane@example.com"),
        ("用户@例子.广告", "用户@例子.广告"),
        ("JOSÉ@exämple.com", "josé@exämple.com"),
        ("Straße@example.de", "straße@example.de"),  # lower(), never casefold() (ss)
        ("user@xn--exmple-cua.com", "user@xn--exmple-cua.com"),  # no IDNA either way
        ("user@[192.0.2.1]", "user@[192.0.2.1]"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "@example.com",
        "jane@",
        "jane @example.com",
        "jane@exa mple.com",
        "jane@example.com\n",
        "jane\x00@example.com",
        "jane\t@example.com",
        "jane\u2028@example.com",
        "jane\x85@example.com",
        "jane\ud800@example.com",
        "<>",
        "Jane <>",
        "jane@example.com>",
        "a" * 250 + "@example.com",
        "é" * 127 + "@ex.com",  # 127 code points but 254+ octets
        "x" * 100_000,
    ],
)
def test_rejects(raw: str) -> None:
    with pytest.raises(ReadError) as caught:
        normalise_address(raw)
    assert caught.value.code == "bad_address"


def test_254_octets_is_the_limit() -> None:
    local = "a" * (254 - len("@example.com"))
    assert normalise_address(f"{local}@example.com") == f"{local}@example.com"
    with pytest.raises(ReadError):
        normalise_address(f"a{local}@example.com")
