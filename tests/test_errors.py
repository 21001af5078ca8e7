"""Bad input (an :class:`InputError`) is one line and exit 2; a plain ``ValueError`` from deep
inside a command is a bug: "internal error", exit 1, and ``--debug`` shows its traceback. No
Ray, no training: the library call a command makes is replaced by one that raises."""

import copy
import sys

import pytest
import yaml
from configs import LINE_HCF as LINE

import hcf_ray.analysis.report
import hcf_ray.calibrate
import hcf_ray.evaluate
import hcf_ray.images
import hcf_ray.pcf.train
import hcf_ray.policy
import hcf_ray.train.hcf
import hcf_ray.train.ladder
import hcf_ray.train.status
from hcf_ray.cli import main
from hcf_ray.errors import InputError, read_json


def _raiser(exc: BaseException):
    def f(*args, **kwargs):
        raise exc

    return f


def _commands(tmp_path) -> dict[str, tuple[list[str], object, str]]:
    """name → (argv, module, attribute the command calls)."""
    imgs, out = str(tmp_path), str(tmp_path / "out")
    return {
        "eval": (["eval", "--images", imgs], hcf_ray.images, "image_files"),
        "bd": (["bd", imgs], hcf_ray.evaluate, "load_results"),
        "report": (
            ["report", "--images", imgs, "--out", out],
            hcf_ray.analysis.report,
            "build_report",
        ),
        "calibrate": (
            ["calibrate", "--sizes", "64x64,128x128,192x192", "--out", str(tmp_path / "p.json")],
            hcf_ray.calibrate,
            "parse_sizes",
        ),
        "train pcf": (
            ["train", "pcf", "--data", imgs, "--workdir", out],
            hcf_ray.pcf.train,
            "TailDropTrainer",
        ),
        "train ladder": (
            ["train", "ladder", "--data", imgs, "--workdir", out],
            hcf_ray.train.ladder,
            "LadderTrainer",
        ),
        "train hcf": (
            ["train", "hcf", "--data", imgs, "--workdir", out],
            hcf_ray.train.hcf,
            "HCFTrainer",
        ),
        "train status": (["train", "status", out], hcf_ray.train.status, "workdir_status"),
    }


COMMANDS = ["eval", "bd", "report", "calibrate", "train pcf", "train ladder", "train hcf"]
COMMANDS.append("train status")


@pytest.fixture
def no_ladder(monkeypatch):
    """``train hcf`` loads its ladder first: skip that (the trainer is replaced anyway)."""
    monkeypatch.setattr("hcf_ray.train_cli._load_ladder", lambda spec, flag: None)


def _fail_with(exc, name, tmp_path, capsys, monkeypatch) -> tuple:
    """Run command ``name`` with its library call raising ``exc``: (exit code, stderr) plain
    and with ``--debug``."""
    argv, module, attr = _commands(tmp_path)[name]
    monkeypatch.setattr(module, attr, _raiser(exc))
    capsys.readouterr()
    plain = main(argv), capsys.readouterr().err
    debug = main(["--debug", *argv]), capsys.readouterr().err
    return plain, debug


@pytest.mark.parametrize("name", COMMANDS)
def test_bad_input_is_one_line_exit_2(name, tmp_path, capsys, monkeypatch, no_ladder):
    (rc, err), (rc_debug, err_debug) = _fail_with(
        InputError("the input is bad"), name, tmp_path, capsys, monkeypatch
    )
    assert rc == 2 and err.count("\n") == 1 and "the input is bad" in err
    assert "internal error" not in err
    assert err.startswith("hcf-sim: error: ") and "Traceback" not in err
    # --debug: the traceback of the library's InputError as well
    assert rc_debug == 2
    assert "Traceback" in err_debug and "InputError: the input is bad" in err_debug


@pytest.mark.parametrize("name", COMMANDS)
def test_a_plain_value_error_is_an_internal_error(name, tmp_path, capsys, monkeypatch, no_ladder):
    (rc, err), (rc_debug, err_debug) = _fail_with(
        ValueError("boom"), name, tmp_path, capsys, monkeypatch
    )
    assert rc == 1
    assert err.splitlines() == [
        "hcf-sim: internal error: ValueError: boom (--debug shows the traceback)"
    ]
    assert rc_debug == 1
    assert "Traceback" in err_debug and "ValueError: boom" in err_debug
    assert "raise exc" in err_debug
    assert err_debug.splitlines()[-1] == "hcf-sim: internal error: ValueError: boom"


def test_a_bug_deep_in_evaluate_is_not_bad_input(tmp_path, capsys, monkeypatch):
    """The real ``eval`` path up to the library's evaluate(), which hits a bug."""
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "a.png")
    monkeypatch.setattr(hcf_ray.evaluate, "evaluate", _raiser(ValueError("shape mismatch")))
    argv = ["eval", "--images", str(tmp_path), "--models", "random:mbt2018-mean:8:8:3"]
    assert main(argv) == 1
    assert "internal error: ValueError: shape mismatch" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["eval", "--images", "{tmp}/nope"], "image folder not found"),
        (["eval", "--images", "{tmp}", "--methods", "ssf,nope"], "unknown method(s) ['nope']"),
        (["bd", "{tmp}/missing"], "results folder not found"),
        (["report", "--images", "{tmp}/nope", "--out", "{tmp}/o"], "image folder not found"),
        (["calibrate", "--sizes", "64x64", "--out", "{tmp}/p.json"], "--sizes: need at least"),
        (
            ["train", "pcf", "--data", "{tmp}", "--workdir", "{tmp}/w", "--group-size", "0"],
            "group size",
        ),
        (["train", "pcf", "--data", "{tmp}", "--workdir", "{tmp}/w", "--export-only"], "--export"),
        (["train", "status", "{tmp}/none"], "no such work dir"),
    ],
)
def test_real_bad_input_stays_one_line(argv, expected, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 20, 30)).save(tmp_path / "a.png")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "eval" and "--methods" in argv:
        argv += ["--models", "random:mbt2018-mean:8:8:3"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def test_a_corrupt_state_json_is_bad_input(tmp_path, capsys):
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(tmp_path / "state.json")
    assert main(["train", "status", str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


# -- treelevels: a policy's refusal is a PlanError, a bug in a policy is not ------------------
def _validate(tmp_path, data) -> list:
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return ["validate", str(p)]


def test_a_policy_refusal_is_a_plan_error(tmp_path, capsys):
    data = copy.deepcopy(LINE)
    data["flows"][0]["destinations"][0]["policy"] = [1, 0, 1, 1, 0, 1, 1]
    assert main(_validate(tmp_path, data)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "flows[0].destinations[0]" in err


def test_a_bug_inside_a_policy_is_an_internal_error(tmp_path, capsys, monkeypatch):
    def place(self, ctx, vector):
        a, b = (1, 2, 3)  # noqa: F841 (a bad unpacking: ValueError, but not bad input)

    monkeypatch.setattr(hcf_ray.policy.Policy, "place", place)
    argv = _validate(tmp_path, LINE)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "internal error: ValueError: too many values to unpack" in err
    assert main(["--debug", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "a, b = (1, 2, 3)" in err


def test_user_error_traceback_with_debug(tmp_path, capsys):
    """--debug on bad input prints the library error's traceback (raised ``from None``)."""
    assert main(["--debug", "train", "status", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "workdir_status" in err and "InputError" in err
    assert err.splitlines()[-1].startswith("hcf-sim: error: train status:")
    assert sys.exc_info() == (None, None, None)


# -- real library errors through the real code paths ---------------------------------------------
# Each case first shows that the library itself raises (pydantic, PyYAML, NetworkX, the OS,
# Pillow, torch), then runs the command: one line naming the file, exit 2, no traceback.
def _refused(argv: list[str], capsys, *expected: str) -> str:
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, err)
    assert err.count("\n") == 1 and err.startswith("hcf-sim: error: "), err
    assert "Traceback" not in out + err and "internal error" not in err
    for text in expected:
        assert text in err, (text, err)
    return err


def _write_yaml(tmp_path, data, name="t.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_real_pydantic_validation_error(tmp_path, capsys):
    import pydantic

    from hcf_ray.sim.config import SimConfig

    data = copy.deepcopy(LINE)
    data["links"][0]["bandwidth_mbps"] = "10"
    with pytest.raises(pydantic.ValidationError):  # pydantic refuses it on its own
        SimConfig.model_validate(data)
    path = _write_yaml(tmp_path, data)
    _refused(["validate", str(path)], capsys, str(path), "links[0].bandwidth_mbps")
    out = tmp_path / "out"
    _refused(["run", str(path), "--out", str(out)], capsys, "links[0].bandwidth_mbps")
    assert not out.exists()


def test_a_real_yaml_error(tmp_path, capsys):
    text = "name: t\nflows: [1, 2\n"
    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load(text)
    line = info.value.problem_mark.line + 1  # where PyYAML says it failed
    path = _write_yaml(tmp_path, text)
    _refused(["validate", str(path)], capsys, str(path), f"line {line}")
    _refused(["sweep", str(path), "--out", str(tmp_path / "o")], capsys, str(path))
    assert not (tmp_path / "o").exists()


def test_a_real_networkx_error(tmp_path, capsys):
    import networkx as nx

    gml = tmp_path / "bad.gml"
    gml.write_text(
        'graph [\n node [ id 0 label "a" ]\n node [ id 1 label "b" ]\n'
        " edge [ source 0 target 9 ]\n]\n"
    )
    with pytest.raises(nx.NetworkXError):
        nx.read_gml(gml, label="label")
    data = {
        "name": "g",
        "codec": "random:mbt2018-mean",
        "graph": {"file": "bad.gml"},
        "flows": [{"source": "a", "destinations": [{"node": "b", "level": 1}]}],
    }
    path = _write_yaml(tmp_path, data)
    _refused(["validate", str(path)], capsys, str(path), "graph.file", str(gml), "NetworkXError")


def test_real_missing_files(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError):
        missing.open()
    _refused(["validate", str(missing)], capsys, str(missing))
    _refused(["run", str(missing), "--out", str(tmp_path / "o")], capsys, str(missing))
    no_models = tmp_path / "no_models"
    _refused(["eval", "--images", str(tmp_path), "--models", str(no_models)], capsys, "--models")
    assert not (tmp_path / "o").exists()


def test_real_image_errors(tmp_path, capsys):
    from PIL import Image, UnidentifiedImageError

    from hcf_ray.images import sample_images

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "a.png").write_bytes(b"not an image at all")
    with pytest.raises(UnidentifiedImageError):
        Image.open(garbage / "a.png")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    photo = sample_images()[0].read_bytes()
    (truncated / "a.png").write_bytes(photo[: len(photo) // 2])
    with pytest.raises(OSError), Image.open(truncated / "a.png") as im:
        im.load()
    models = ["--models", "random:mbt2018-mean:8:8:3", "--methods", "ssf"]
    for folder in (garbage, truncated):
        _refused(["eval", "--images", str(folder), *models], capsys, str(folder / "a.png"))


def test_a_real_corrupt_checkpoint(tmp_path, capsys):
    import shutil

    import torch

    import hcf_ray

    bundle = tmp_path / "bundle"
    shutil.copytree(hcf_ray.__path__[0] + "/weights/default", bundle)
    level1 = bundle / "level1.pt"
    level1.write_bytes(level1.read_bytes()[:1000])
    with pytest.raises(RuntimeError):
        torch.load(level1, weights_only=True)
    images = hcf_ray.__path__[0] + "/samples"
    argv = ["eval", "--images", images, "--max-images", "1", "--models", str(bundle)]
    _refused([*argv, "--methods", "ssf"], capsys, "level1.pt")
