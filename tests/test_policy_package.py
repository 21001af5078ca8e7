"""The policy package: the author's API (``decide`` → ``Decision``), the adapters for the older
``choose``/``place``, the one registry, ``hcf-sim check-policy`` and its synthetic scenarios, and
user files loaded from their text under a private module name."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import hcf_ray.policy
from hcf_ray.cli import main
from hcf_ray.policy import (
    Decision,
    EdgePolicy,
    LatePolicy,
    Policy,
    PolicyContext,
    PolicyVector,
    UniformPolicy,
    _registry,
    register_policy,
)
from hcf_ray.policy._resolve import resolve_policy
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.policy.check import SCENARIOS, check_policy

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [
    "policies/bandwidth_aware.py:BandwidthAware",
    "policies/deadline_aware.py:DeadlineAware",
    "policies/fork_aware.py:ForkAware",
]


# -- the author's API ---------------------------------------------------------------------------
def test_the_package_exports_only_the_authors_api():
    assert sorted(hcf_ray.policy.__all__) == sorted(
        [
            "Policy",
            "PolicyContext",
            "PolicyVector",
            "EdgePolicy",
            "LatePolicy",
            "UniformPolicy",
            "ExplicitPolicy",
            "enumerate_policies",
            "all_placements",
            "register_policy",
            "Decision",
            "Route",
            "Hop",
            "Estimate",
            "NodeDevice",
        ]
    )
    for name in hcf_ray.policy.__all__:
        assert getattr(hcf_ray.policy, name) is not None
    for internal in ("resolve_policy", "PolicyError", "bind_environment", "place_early"):
        assert not hasattr(hcf_ray.policy, internal), internal


def test_the_authors_module_is_short_and_starts_with_the_api():
    text = (ROOT / "hcf_ray" / "policy" / "base.py").read_text()
    assert len(text.splitlines()) < 200
    first_class = text.index("\nclass ")
    assert text[first_class:].startswith("\nclass Decision")
    assert "signal" not in text and "importlib" not in text  # no sandbox here


class Planned(Policy):
    """Edge vector, placed by the policy itself (work at the last relay)."""

    name = "planned"

    def __init__(self, levels=None):
        self.levels = levels

    def decide(self, ctx):
        vector = PolicyVector.from_levels(ctx.start_level, ctx.target_level, (6, 3))
        return Decision(vector, self.levels)


def test_decide_returns_the_vector_and_the_levels_per_hop():
    ctx = PolicyContext(6, 3, 2, num_hops=4)
    assert Planned((6, 6, 6, 3)).hop_levels(ctx) == (6, 6, 6, 3)
    assert Planned([6, 3, 3, 3]).hop_levels(ctx) == (6, 3, 3, 3)
    assert Planned(None).hop_levels(ctx) == (6, 3, 3, 3)  # no levels: drop as early as possible
    assert Planned().vector(6, 3, 2).bits == (1, 0, 0, 1)
    assert Planned().choose(ctx).bits == (1, 0, 0, 1)  # the adapter: decide's vector


@pytest.mark.parametrize(
    "levels,msg",
    [
        ((6, 5, 3, 3), "placement [6, 5, 3, 3] does not carry exactly the levels [6, 3]"),
        ((6, 6, 6, 6), "placement [6, 6, 6, 6] does not carry exactly the levels [6, 3]"),
        ((6, 3, 3), "placement [6, 3, 3] gives 3 levels for a route of 4 hops"),
    ],
)
def test_levels_that_do_not_match_the_vector_are_one_line_naming_the_policy(levels, msg):
    with pytest.raises(ValueError) as info:
        Planned(levels).hop_levels(PolicyContext(6, 3, 2, num_hops=4))
    assert str(info.value).startswith(f"policy 'planned': {msg}")
    assert "\n" not in str(info.value)


def test_a_file_policy_with_mismatched_levels_names_its_file_and_line(tmp_path):
    (tmp_path / "off.py").write_text(
        "from hcf_ray.policy import Decision, Policy, PolicyVector\n"
        "class Off(Policy):\n"
        "    def decide(self, ctx):\n"
        "        v = PolicyVector.from_levels(ctx.start_level, ctx.target_level, (6, 3))\n"
        "        return Decision(v, (6, 4, 3, 3))\n"
    )
    pol = resolve_policy(f"{tmp_path / 'off.py'}:Off", shown="off.py:Off")
    with pytest.raises(PolicyError) as info:
        pol.hop_levels(PolicyContext(6, 3, 2, num_hops=4))
    assert str(info.value) == (
        "policy off.py:3: ValueError: placement [6, 4, 3, 3] does not carry exactly the "
        "levels [6, 3] of policy [1,0,0,1]"
    )


def test_decide_must_return_a_decision(tmp_path):
    (tmp_path / "bare.py").write_text(
        "from hcf_ray.policy import Policy\n"
        "class Bare(Policy):\n"
        "    def decide(self, ctx):\n"
        "        return [1, 0, 0, 1]\n"
    )
    pol = resolve_policy(f"{tmp_path / 'bare.py'}:Bare", shown="bare.py:Bare")
    with pytest.raises(
        PolicyError, match=r"^policy bare.py:3: TypeError: decide\(\) returned list"
    ):
        pol.hop_levels(PolicyContext(6, 3, 2, num_hops=4))


# -- the older API, adapted -----------------------------------------------------------------------
def test_choose_and_place_are_adapted_to_decide():
    calls = []

    class Old(Policy):
        name = "old"

        def choose(self, ctx):
            calls.append("choose")
            return [1, 0, 0, 1]

        def place(self, ctx, vector):
            calls.append("place")
            return (6, 6, 3, 3)

    ctx = PolicyContext(6, 3, 2, num_hops=4)
    decision = Old().decide(ctx)
    assert isinstance(decision, Decision) and calls == ["choose", "place"]
    assert decision.vector.bits == (1, 0, 0, 1) and tuple(decision.levels) == (6, 6, 3, 3)
    calls.clear()
    assert Old().hop_levels(ctx) == (6, 6, 3, 3) and calls == ["choose", "place"]
    calls.clear()
    assert Old().vector(6, 3, 2).bits == (1, 0, 0, 1) and calls == ["choose"]
    # the built-ins still implement choose(); decide() gives their vector, placed early
    assert EdgePolicy().decide(ctx).vector.bits == (1, 0, 0, 1)
    assert tuple(LatePolicy().decide(ctx).levels) == (4, 3, 3, 3)


def test_a_policy_without_decide_or_choose_cannot_be_made():
    class Nothing(Policy):
        pass

    with pytest.raises(TypeError, match="Can't instantiate abstract class Nothing"):
        Nothing()

    class Sub(EdgePolicy):  # inherits choose(): fine
        pass

    assert Sub().vector(4, 1, 2).bits == (1, 0, 0, 1)


def test_a_policy_file_may_not_override_what_the_simulator_calls(tmp_path):
    (tmp_path / "hl.py").write_text(
        "from hcf_ray.policy import EdgePolicy\n"
        "class P(EdgePolicy):\n"
        "    def hop_levels(self, ctx):\n"
        "        return (1,)\n"
    )
    with pytest.raises(PolicyError) as info:
        resolve_policy(f"{tmp_path / 'hl.py'}:P", shown="hl.py:P")
    assert (
        str(info.value) == "policy hl.py:3: P overrides hop_levels(); implement decide(ctx) instead"
    )


# -- the registry ---------------------------------------------------------------------------------
@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(_registry, "_POLICIES", dict(_registry._POLICIES))
    return _registry


def test_builtins_are_in_the_one_registry():
    named = _registry.registered_policies()
    assert named["edge"] is EdgePolicy
    assert named["late"] is LatePolicy
    assert named["uniform"] is UniformPolicy
    assert isinstance(resolve_policy("uniform"), UniformPolicy)


def test_register_policy_by_its_name_or_a_given_one(registry):
    @register_policy
    class Second(Policy):
        name = "second-level"

        def choose(self, ctx):
            return PolicyVector.from_levels(ctx.start_level, ctx.target_level, (4, 1))

    @register_policy("also-second")
    class Again(Second):
        pass

    assert registry.registered_policies()["second-level"] is Second
    assert registry.registered_policies()["also-second"] is Again
    assert resolve_policy("second-level").vector(5, 1, 2).bits == (0, 1, 0, 0, 1)
    assert isinstance(resolve_policy({"class": "also-second"}), Again)
    with pytest.raises(ValueError, match="policy name 'edge' is already registered"):
        register_policy("edge")(Second)
    with pytest.raises(TypeError, match="is not a Policy subclass"):
        register_policy(int)
    with pytest.raises(ValueError, match="unknown policy 'nope': use one of edge, late, uniform"):
        resolve_policy("nope")


# -- check-policy ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SHIPPED)
def test_check_policy_passes_the_shipped_policies(spec, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check-policy", spec]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == len(SCENARIOS) == 5
    assert all(line.startswith("ok ") for line in lines)


def test_check_policy_passes_args(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = ["check-policy", SHIPPED[1], "--args", '{"deadline_ms": 80}']
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["check-policy", SHIPPED[1], "--args", '{"deadline_ms": -1}']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deadline_ms must be a positive number, got -1" in err[0]
    assert main(["check-policy", SHIPPED[1], "--args", "[1]"]) == 2
    assert "--args must be a JSON object" in capsys.readouterr().err


BROKEN_MIN_LEVEL = """\
from hcf_ray.policy import Decision, Policy, PolicyVector


class IgnoresMinLevels(Policy):
    def decide(self, ctx):
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        vector = PolicyVector.from_levels(s, d, [s - i for i in range(n - 1)] + [d])
        levels = list(vector.transmission_levels)
        return Decision(vector, levels + [d] * (ctx.num_hops - len(levels)))
"""


def test_check_policy_reports_a_placement_below_a_min_level_in_one_line(tmp_path, capsys):
    (tmp_path / "broken.py").write_text(BROKEN_MIN_LEVEL)
    assert main(["check-policy", f"{tmp_path / 'broken.py'}:IgnoresMinLevels"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("FAIL fork: policy ")
    assert "sends level 1 on hop n1→n2, below its min_level 2 (levels [5, 1, 1])" in lines[0]
    assert len(out.splitlines()) == 4  # the other scenarios pass


def test_check_policy_on_a_file_that_is_not_there_is_one_line(tmp_path, capsys):
    assert main(["check-policy", f"{tmp_path / 'none.py'}:P"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


GOOD = """\
from hcf_ray.policy import Decision, Policy, PolicyVector, all_placements


class P(Policy):
    def decide(self, ctx):
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        {pre}
        vector = PolicyVector.from_levels(s, d, [s - i for i in range(n - 1)] + [d])
        mins = [hop.min_level for hop in ctx.route]
        plans = list(all_placements(vector.transmission_levels, ctx.num_hops, {mins}))
        return Decision(vector, {pick})
"""
DEFAULTS = {"pre": "pass", "mins": "mins", "pick": "plans[0] if plans else None"}
BUGS = {
    # a table indexed by hop, sized by the levels: a route longer than the levels overflows it
    "long route": (
        {
            "pre": "rate = {k: ctx.rate_model(k) for k in range(d, s + 1)}\n"
            "        sum(rate[s - i] for i in range(ctx.num_hops))"
        },
        "KeyError: 0",
    ),
    # the flow's source level instead of this chain's start (a later multicast destination)
    "fork": ({"pre": "s = ctx.flow_source_level"}, "returned a vector for s=6, d=1; expected s=5"),
    # the placement forgets the hops' minimums
    "fork ": ({"mins": "None"}, "below its min_level 2"),
    # one level per hop: only right when n_q equals the hops
    "fewer quantizations than hops": (
        {"pick": "list(vector.transmission_levels)"},
        "placement [6, 2] gives 2 levels for a route of 4 hops",
    ),
    # no plan meets the minimums: plans is empty
    "min level out of reach": ({"pick": "plans[0]"}, "IndexError: list index out of range"),
    # a second hop taken for granted
    "one hop": (
        {"pre": "slow = ctx.route[1].bandwidth_mbps < ctx.route[0].bandwidth_mbps"},
        "IndexError: tuple index out of range",
    ),
}


def test_a_correct_policy_passes_every_scenario(tmp_path):
    (tmp_path / "good.py").write_text(GOOD.format(**DEFAULTS))
    assert check_policy(f"{tmp_path / 'good.py'}:P") == []


@pytest.mark.parametrize("scenario", list(BUGS))
def test_each_scenario_catches_its_kind_of_bug(scenario, tmp_path):
    change, message = BUGS[scenario]
    (tmp_path / "bug.py").write_text(GOOD.format(**{**DEFAULTS, **change}))
    problems = check_policy(f"{tmp_path / 'bug.py'}:P")
    by_name = {p.scenario: str(p) for p in problems}
    assert scenario.strip() in by_name, problems
    assert message in by_name[scenario.strip()]
    assert all("\n" not in p and len(p) <= 200 for p in by_name.values())
    if scenario != "fewer quantizations than hops":  # n_q < hops happens in others too
        assert set(by_name) == {scenario.strip()}, problems


# -- user code: source text under a private module name --------------------------------------------
BOTTLENECK = """\
import yaml  # the installed package, whatever this file is called

from hcf_ray.policy import EdgePolicy


class Bottleneck(EdgePolicy):
    name = "bottleneck"

    def __init__(self, factor=2):
        self.factor = factor
        self.yaml_file = yaml.__file__
"""


@pytest.mark.parametrize("file_name", ["bottleneck.py", "yaml.py"])
def test_a_policy_file_named_like_a_package_shadows_nothing(file_name, tmp_path, monkeypatch):
    import yaml

    real_yaml = yaml.__file__
    monkeypatch.chdir(tmp_path)
    Path(file_name).write_text(BOTTLENECK)
    pol = resolve_policy(f"{file_name}:Bottleneck", {"factor": 3})
    module = type(pol.inner).__module__
    assert module.startswith("_hcf_user_") and module in sys.modules
    assert file_name[:-3] not in sys.modules or sys.modules[file_name[:-3]].__file__ != str(
        tmp_path / file_name
    )
    assert sys.modules["yaml"].__file__ == real_yaml == pol.inner.yaml_file
    assert str(tmp_path) not in sys.path
    assert pol.vector(6, 1, 2).bits == (1, 0, 0, 0, 0, 1)


def test_the_module_name_is_the_hash_of_the_path_and_text(tmp_path):
    import hashlib

    path = tmp_path / "bottleneck.py"
    path.write_text(BOTTLENECK)
    pol = resolve_policy(f"{path}:Bottleneck")
    real = os.path.realpath(path)
    digest = hashlib.sha256(f"{real}\0{BOTTLENECK}".encode()).hexdigest()
    assert type(pol.inner).__module__ == f"_hcf_user_{digest[:24]}"
    path.write_text(BOTTLENECK + "# edited\n")  # an edited file is a new module
    again = resolve_policy(f"{path}:Bottleneck")
    assert type(again.inner).__module__ != type(pol.inner).__module__


UNPICKLE = """\
import pickle, sys
pol = pickle.loads(sys.stdin.buffer.read())
from hcf_ray.policy import PolicyContext
print(type(pol.inner).__module__, pol.inner.factor, pol.hop_levels(PolicyContext(6, 3, 2, num_hops=3)))
"""


def test_a_policy_crosses_to_another_process_as_its_source_text(tmp_path):
    folder = tmp_path / "driver"
    folder.mkdir()
    path = folder / "bottleneck.py"
    path.write_text(BOTTLENECK)
    pol = resolve_policy(f"{path}:Bottleneck", {"factor": 5})
    data = pickle.dumps(pol)
    assert BOTTLENECK.encode() in data  # the text travels, not a module to import
    path.unlink()  # the other process cannot open the driver's file
    folder.rmdir()
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", UNPICKLE],
        input=data,
        cwd=elsewhere,
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.decode()
    module, factor, levels = out.split(maxsplit=2)
    assert module == type(pol.inner).__module__ and factor == "5"
    assert levels.strip() == "(6, 3, 3)"


def test_a_user_method_file_loads_under_a_private_name(tmp_path, monkeypatch):
    from hcf_ray import methods

    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))
    monkeypatch.chdir(tmp_path)
    Path("yaml.py").write_text(
        "from hcf_ray.methods import DRF\nclass Mine(DRF):\n    name = 'mine-private'\n"
    )
    method = methods.get_method("yaml.py:Mine")
    assert type(method).__module__.startswith("_hcf_user_")
    import yaml

    assert not yaml.__file__.startswith(str(tmp_path))


RAY_WORKER = """\
import importlib.util, os, sys
import ray
from hcf_ray.sim.pool import connect

connect(num_cpus=1)

@ray.remote
def where():
    spec = importlib.util.find_spec("bottleneck")
    return spec.origin if spec else "", sys.path, os.getcwd()

origin, path, cwd = ray.get(where.remote())
ray.shutdown()
print(origin.startswith(os.getcwd()), os.getcwd() in path, cwd == os.getcwd())
"""


def test_ray_workers_do_not_import_from_the_current_folder(tmp_path):
    """Ray puts the driver's current folder first on its workers' sys.path; hcf-sim starts
    Ray from an empty folder, so a bottleneck.py there is never found by a worker."""
    (tmp_path / "bottleneck.py").write_text("raise SystemExit('the current folder was imported')\n")
    script = tmp_path / "scripts" / "run.py"
    script.parent.mkdir()
    script.write_text(RAY_WORKER)
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        timeout=280,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"},
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.decode().split() == ["False", "False", "False"]


def test_policy_environment_pickles_with_its_measured_table():
    """A scenario carries each flow's environment to Ray tasks: it pickles (its lock is
    recreated) and keeps the table measured before."""
    import pickle

    from hcf_ray.policy._environment import PolicyEnvironment

    env = PolicyEnvironment(image_size=(64, 96), node_speed={"a": 2.0}, level_bpp=dict)
    env._table = {1: 0.25, 2: 0.5}
    copy = pickle.loads(pickle.dumps(env))
    assert copy.level_bpp() == {1: 0.25, 2: 0.5} and copy.image_size == (64, 96)
    assert copy.node_speed == {"a": 2.0} and copy._lock is not env._lock
