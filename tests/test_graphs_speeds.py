"""Link speeds read from free text: every expected number is worked out by hand from the
standards' line rates (OC-1 = 51.84, STM-1 = 155.52, DS-1 = 1.544, DS-3 = 44.736,
E1 = 2.048, E3 = 34.368 Mbit/s) or from the figure written in the text."""

from __future__ import annotations

import dataclasses

import pytest

from hcf_ray.graphs.speeds import Speed, parse_speed

CASES = [
    # SDH / SONET line types, with and without dashes and the "c" (concatenated) suffix
    ("STM-1", 155.52),
    ("STM-4", 622.08),  # 4 x 155.52
    ("STM-16", 2488.32),  # 16 x 155.52
    ("STM-64", 9953.28),  # 64 x 155.52
    ("STM64", 9953.28),
    ("OC-3", 155.52),  # 3 x 51.84
    ("OC-12", 622.08),  # 12 x 51.84
    ("OC-48c", 2488.32),  # 48 x 51.84
    ("OC-192c", 9953.28),  # 192 x 51.84
    ("OC192", 9953.28),
    ("IPLC STM-1", 155.52),
    # PDH / T-carrier
    ("DS-3", 44.736),
    ("DS3", 44.736),
    ("T3", 44.736),
    ("internetMCI T3", 44.736),
    ("T1", 1.544),
    ("ANS CO+RE T1", 1.544),  # a '+' inside a word does not add
    ("DS-1", 1.544),
    ("T2", 6.312),
    ("E1", 2.048),
    ("E3", 34.368),
    # Ethernet
    ("Ethernet", 10.0),
    ("Fast Ethernet", 100.0),
    ("FE", 100.0),
    ("GE", 1000.0),
    ("GigE", 1000.0),
    ("Gige", 1000.0),
    ("1GE Primary Link", 1000.0),
    ("10GE", 10000.0),
    ("10 GE", 10000.0),
    ("40GE", 40000.0),
    ("100GE", 100000.0),
    # written figures
    ("45 Mbps", 45.0),
    ("2.5 Gbps", 2500.0),
    ("2.5 Gbit/s", 2500.0),
    ("1Gb/s", 1000.0),
    ("10Gbps", 10000.0),
    ("155M", 155.0),
    ("2.5G", 2500.0),
    ("2.5 G", 2500.0),
    ("64 Kbit/s", 0.064),
    ("128 Kbps", 0.128),
    ("9600 bit/s", 0.0096),
    ("1 Tbps", 1_000_000.0),
    ("1 GB/s", 1000.0),  # capital B in a line label: bits
    ("ZAMREN FIBRE (100 MB)", 100.0),
    ("40Mpbs", 40.0),
    ("155Mbs", 155.0),
    ("1,000 Mbps", 1000.0),  # thousands comma
    ("2,5 Gbps", 2500.0),  # decimal comma
    ("Peering, 13 Gbps", 13000.0),  # a comma that is not part of a number
    ("Lit Fibre (10 Gbps)", 10000.0),
    ("CANARIE N*10Gbit/s", 10000.0),  # "N*" is not a number
    # a written figure wins over a line type in the same text
    ("45 Mbps DS-3", 45.0),
    ("155 Mbps OC-3", 155.0),
    ("622 Mbps OC-12", 622.0),
    ("10G Ethernet", 10000.0),
    ("2 x E3 (68Mbps)", 68.0),
    # multipliers
    ("STM-64x2", 19906.56),  # 2 x 9953.28
    ("STM-64 x 2", 19906.56),
    ("STM-64×2", 19906.56),
    ("STM-4x2", 1244.16),  # 2 x 622.08
    ("STM-64x4", 39813.12),  # 4 x 9953.28
    ("10GEx4", 40000.0),
    ("10Gex12", 120000.0),
    ("2x10GE", 20000.0),
    ("4 x OC-48", 9953.28),  # 4 x 48 x 51.84
    ("3 x 622Mbps", 1866.0),
    ("4x155Mbps", 620.0),
    # parts joined by ' + ' add up: 4 x 1000 + 2 x 155.52
    ("4x1 Gbps + 2x STM-1", 4311.04),
    ("24 Mb/s + Satellite", 24.0),
    # ranges: the lower bound
    ("1-20Gbps", 1000.0),
    ("1 - 20 Gbps", 1000.0),
    ("10-34 Mb/s", 10.0),
    ("1-2.5 Gb/s", 1000.0),
    ("300M-1Gb/s", 300.0),
    ("1 to 10 Gbps", 1000.0),
    # alternatives: the lowest; the same rate named twice counts once
    ("34/45 Mbit/s", 34.0),
    ("155Mbs/1Gbps", 155.0),
    ("GigE/FE/ATM", 100.0),
    ("OC192/STM64", 9953.28),
    ("OC-3 / STM-1", 155.52),
    # bounds: the number as written
    ("< 2.5 Gbps", 2500.0),
    ("<= 10 Mbps", 10.0),
    (">10Gbps", 10000.0),
]


@pytest.mark.parametrize(("text", "mbps"), CASES)
def test_speed_from_text(text, mbps):
    speed = parse_speed(text)
    assert speed is not None, text
    assert speed.mbps == pytest.approx(mbps, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Green Link",
        "Fiber",
        "FIBRE",
        "ATM",
        "SDH",
        "MPLS",
        "DWDM",
        "GWEN",
        "SeaMeWe-3",  # a cable's name, not E3
        "TAT-14",  # not T1
        "Adria-1",
        "Aphrodite-2",
        "72 Lambda ROADM Network",  # a number without a unit
        "1Q 2003",
        "ge",  # GE and FE only in capitals
        "fe",
        "0 Mbps",
        "OC-0",
        "STM-0",
    ],
)
def test_no_speed(text):
    assert parse_speed(text) is None


def test_not_a_string():
    assert parse_speed(None) is None  # type: ignore[arg-type]
    assert parse_speed(10) is None  # type: ignore[arg-type]


def test_details_say_how_the_number_was_read():
    assert parse_speed("OC-192c").detail == "OC-192 = 192 × 51.84 Mbit/s"
    assert "STM-64" in parse_speed("STM-64x2").detail
    assert "×2" in parse_speed("STM-64x2").detail
    assert "range 1-20Gbps: lower bound" in parse_speed("1-20Gbps").detail
    assert "alternatives 34/45 Mbit/s: lowest" in parse_speed("34/45 Mbit/s").detail
    assert "wins over DS-3" in parse_speed("45 Mbps DS-3").detail
    assert "bound" in parse_speed("< 2.5 Gbps").detail
    assert "STM-64" in parse_speed("OC192/STM64").detail


def test_speed_is_frozen():
    speed = parse_speed("E1")
    assert isinstance(speed, Speed)
    with pytest.raises(dataclasses.FrozenInstanceError):
        speed.mbps = 1.0  # type: ignore[misc]
