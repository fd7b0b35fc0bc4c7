"""The Python reference of request path normalisation agrees with the engine's cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thecloud.dataplane.lb.paths import hides_dot_segment, normalize_path

pytestmark = pytest.mark.unit

# The same cases as the engine's unit tests (native/crates/lb/src/http/path.rs).
DODGES = [
    "/%61dmin",
    "/%61%64%6D%69%6e",
    "/x/../admin",
    "/public/../admin",
    "//admin",
    "///admin",
    "/./admin",
    "/%2e/admin",
    "/x/%2E%2e/admin",
    "/../admin",
    "/../../../admin",
    "/x/y/../../admin",
]
CASES = [
    ("/a/b/c/./../../g", "/a/g"),
    ("/mid/content=5/../6", "/mid/6"),
    ("/a/b/..", "/a/"),
    ("/a/b/.", "/a/b/"),
    ("/a/./", "/a/"),
    ("/..", "/"),
    ("/.", "/"),
    ("/a/..b/.c/", "/a/..b/.c/"),
    ("/a/...", "/a/..."),
    ("/a//../b", "/a/b"),
    ("/a/b//", "/a/b/"),
    ("/%7euser/%5f", "/~user/_"),
    ("/a%2fb%5cc", "/a%2Fb%5Cc"),
    ("/%20%3f%e2%82%ac", "/%20%3F%E2%82%AC"),
    ("/a/..%2Fadmin", "/a/..%2Fadmin"),
]
NORMAL = ["/", "/api/v1/users/42", "/a%2Fb", "/x/", "/%20", "/.well-known/x"]


@pytest.mark.parametrize("dodge", DODGES)
def test_paths_that_dodge_a_route_become_the_route(dodge: str) -> None:
    assert normalize_path(dodge) == "/admin"


@pytest.mark.parametrize(("raw", "normal"), CASES)
def test_dot_segments_escapes_and_slashes_normalise_as_the_engine_does(
    raw: str, normal: str
) -> None:
    assert normalize_path(raw) == normal


@pytest.mark.parametrize("path", NORMAL)
def test_a_normal_path_is_unchanged(path: str) -> None:
    assert normalize_path(path) == path


@pytest.mark.parametrize("bad", ["/%zz", "/%4", "/a%", "/%g0/x", "/ok/%-1"])
def test_invalid_escapes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="percent-encoding"):
        normalize_path(bad)


@given(st.text(alphabet="/.a%2e5F~", max_size=12))
def test_normalising_twice_changes_nothing(tail: str) -> None:
    try:
        once = normalize_path("/" + tail)
    except ValueError:
        return
    assert once.startswith("/")
    assert normalize_path(once) == once


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("/public%2F..%2Fadmin", True),
        ("/public%5C..%5Cadmin", True),
        ("/public/..%5Cadmin", True),
        ("/public/..\\admin", True),
        ("/public/..;/admin", True),
        ("/public/.;x/admin", True),
        ("/a/..%2Fadmin", True),
        ("/a;b/c", False),
        ("/a%2Fb", False),
        ("/..a;/b", False),
        ("/a/b;..", False),
        ("/a%2F.b", False),
        ("/a/x..%2Fadmin", False),
    ],
)
def test_dot_segments_hidden_from_normalisation_are_found_as_the_engine_finds_them(
    path: str, hidden: bool
) -> None:
    assert hides_dot_segment(path) is hidden
