"""`gateway_policy.inexpressible` (what MC183 asks of every gateway route) answers exactly as
`combine_all` does, on generated matches: the same reason when they cannot be combined, None
otherwise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from meshc.compiler.lower.gateway_policy import Inexpressible, combine_all, inexpressible
from meshc.spec.models import StringMatch
from meshc.spec.models.traffic import Match

texts = st.sampled_from(["/", "/a", "/a/", "/a/b", "/b", "GET", "POST", "x", "^/a.*"])
strings = st.one_of(
    st.builds(lambda v: StringMatch(exact=v), texts),
    st.builds(lambda v: StringMatch(prefix=v), texts),
    st.builds(lambda v: StringMatch(regex=v), texts),
)


def matches_of(values: st.SearchStrategy[StringMatch]) -> st.SearchStrategy[Match]:
    """Matches whose conditions are drawn from `values`."""
    maps = st.dictionaries(st.sampled_from(["x-a", "x-b"]), values, max_size=2)
    return st.builds(
        Match,
        path=st.none() | values,
        method=st.none() | values,
        headers=maps,
        query=maps,
        claims=maps,
        port=st.none() | st.sampled_from([80, 8080]),
    )


matches = matches_of(strings)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(matches, max_size=3),
    st.lists(matches, max_size=3),
    st.none() | st.sampled_from(["/", "/v2", "/v2/", "/a"]),
    st.none() | st.sampled_from([80, 8080]),
)
def test_inexpressible_is_combine_all_failing(gateway, service, rewrite, port) -> None:
    full = combine_all(gateway, service, rewrite, port)
    found = inexpressible(gateway, service, rewrite, port)
    if isinstance(full, Inexpressible):
        assert found == full
    else:
        assert found is None
