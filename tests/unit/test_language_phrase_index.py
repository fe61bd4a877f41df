"""The look-alike phrase index picks exactly the phrases a full scan would find, in the same order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.language.classify import _lexicon, _PhraseIndex, fold

SAFETY = _lexicon("safety")
PHRASES = SAFETY._exclude


def _scan(phrases, text):
    return [p for p in phrases if p in text]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PHRASES), st.text(max_size=12)), max_size=8))
def test_the_index_finds_what_a_full_scan_finds(parts):
    text = fold(" ".join(parts))
    index = _PhraseIndex(PHRASES)
    assert [p for p in index.candidates(text) if p in text] == _scan(PHRASES, text)


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=20, unique=True), st.text(max_size=40))
def test_short_and_overlapping_phrases(phrases, text):
    phrases = sorted(phrases, key=len, reverse=True)
    assert [p for p in _PhraseIndex(phrases).candidates(text) if p in text] == _scan(phrases, text)
