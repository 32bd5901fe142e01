"""``stop`` on a stream: whatever the chunking, the text sent equals the plain answer's cut."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from claude_code_api.application.output_format import StopScanner, cut_at_stop, unwrap_json

# A small alphabet so that stop sequences really occur, and straddle chunk boundaries.
text = st.text(alphabet="ab c\n", max_size=60)
stops = st.lists(st.text(alphabet="ab c\n", min_size=1, max_size=4), min_size=1, max_size=4)


@given(answer=text, stop=stops, cuts=st.lists(st.integers(0, 60), max_size=8))
# A shorter stop found first while a longer one that starts earlier is still open.
@example(answer=" aa", stop=["a", " aa"], cuts=[2])
def test_streamed_stop_matches_the_plain_cut(answer: str, stop: list[str], cuts: list[int]) -> None:
    bounds = sorted({0, len(answer), *(c for c in cuts if c <= len(answer))})
    chunks = [answer[a:b] for a, b in itertools.pairwise(bounds)]
    scanner = StopScanner(stop)
    sent = "".join(scanner.feed(chunk) for chunk in chunks) + scanner.finish()
    expected, found = cut_at_stop(answer, stop)
    assert sent == expected
    assert scanner.stopped == found


def test_unwrap_json_only_removes_a_fence_around_the_whole_answer() -> None:
    assert unwrap_json('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert unwrap_json("```\n[1, 2]\n```\n") == "[1, 2]"
    assert unwrap_json('{"a": 1}') == '{"a": 1}'
    kept = 'Here it is:\n```json\n{"a": 1}\n```'
    assert unwrap_json(kept) == kept
