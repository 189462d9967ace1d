"""What people may read of an archive URL: its origin, never its path, query or credentials."""

from __future__ import annotations

import pytest

from receiver.observability.redaction import UNREADABLE, describe_url, scrub_urls

SECRET = "tok-SECRET123"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://files.example.com/{SECRET}/a.zip", "https://files.example.com"),
        (
            f"https://user:{SECRET}@Files.Example.com:8443/a.zip?X-Amz-Signature={SECRET}#frag",
            "https://files.example.com:8443",
        ),
        (f"http://127.0.0.1:8081/archives/{SECRET}.zip", "http://127.0.0.1:8081"),
        (f"https://[2001:db8::1]:8443/{SECRET}", "https://[2001:db8::1]:8443"),
        (f"  https://files.example.com?{SECRET}  ", "https://files.example.com"),
        (f"ftp://x/{SECRET}", "ftp://x"),
    ],
)
def test_a_url_is_described_by_its_origin(url: str, shown: str) -> None:
    assert describe_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"files.example.com/{SECRET}",  # no scheme: all of it is a path
        f"/{SECRET}/a.zip",
        f"https:///{SECRET}",
        f"https://[not-ipv6/{SECRET}",
        f"https://files.example.com:99999/{SECRET}",
        f"https://{SECRET}%2Fx.example.com/a.zip",  # a host that is not a host name
        f"https://fïles.example.com/{SECRET}",
        "",
    ],
)
def test_an_unreadable_url_shows_nothing_of_itself(url: str) -> None:
    assert describe_url(url) == UNREADABLE


def test_urls_in_free_text_are_cut_to_their_origin() -> None:
    text = f"GET https://files.example.com/{SECRET}.zip?sig={SECRET} failed; retried http://a.test:81/{SECRET}"
    assert scrub_urls(text) == "GET https://files.example.com failed; retried http://a.test:81"


def test_text_without_a_url_is_left_alone() -> None:
    assert scrub_urls("download failed: http_404 at https://files.example.com") == (
        "download failed: http_404 at https://files.example.com"
    )
    assert scrub_urls("no url here") == "no url here"
