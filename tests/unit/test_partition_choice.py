"""Which partition queue a ticket's events go to: fixed across processes and releases, spread evenly."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from services.amqp.partitions import Partitions


def test_a_tickets_queue_is_fixed_by_the_crc32_standard():
    # CRC-32("T-1") = 0xE50005AB -> % 8 = 3: a value pinned here, so that a change of hash (which
    # would re-map every open ticket while its earlier events still wait in the old queue) fails
    parts = Partitions("ns", 8)
    assert parts.queue_for("T-1") == "ns.in.p03"
    assert parts.queue_for("-") == parts.queue_for("-")


@given(st.text(max_size=300), st.integers(1, 64))
def test_every_subject_maps_to_one_of_the_queues(subject, count):
    parts = Partitions("ns", count)
    assert parts.queue_for(subject) in parts.queues
    assert parts.queue_for(subject) == Partitions("ns", count).queue_for(subject)


def test_tickets_spread_evenly_over_the_partitions():
    parts = Partitions("ns", 8)
    counts = Counter(parts.queue_for(f"T-{i}") for i in range(8000))
    assert len(counts) == 8 and max(counts.values()) < 1.1 * 1000 and min(counts.values()) > 0.9 * 1000
