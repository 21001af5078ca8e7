"""BD metrics on curves with equal rates: the same message whatever the input order."""

import itertools

import pytest

from hcf_ray.errors import InputError
from hcf_ray.metrics import bd_rate

ANCHOR = ([0.1, 0.2, 0.4, 0.8], [30.0, 32.0, 34.0, 36.0])


def test_tied_rates_are_ordered_by_quality_in_every_input_order():
    """Two levels with the same rate (as a random ladder's lowest levels have) make the test
    curve non-monotonic. The refusal lists the points rate first, then quality, for every
    permutation of the input: the text does not depend on the sort's handling of ties."""
    points = [(0.026, 6.544), (0.026, 6.218), (0.0755, 6.815), (0.237, 6.899)]
    messages = set()
    for perm in itertools.permutations(points):
        rates, quality = zip(*perm)
        with pytest.raises(InputError) as err:
            bd_rate(*ANCHOR, list(rates), list(quality))
        messages.add(str(err.value))
    assert messages == {
        "test curve is not monotonic (rate [0.026, 0.026, 0.0755, 0.237], "
        "quality [6.218, 6.544, 6.815, 6.899]): BD metrics are undefined"
    }
