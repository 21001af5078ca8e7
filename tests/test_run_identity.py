"""A run's identity by contents: ``run.json`` holds the sha256 of every input file and a
schema version; ``--resume`` refuses a folder whose graph, policy or image file changed (one
line naming the file) or that another schema wrote, and leaves the folder byte for byte as it
was. Hashes are checked against :mod:`hashlib` on the files themselves."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from hcf_ray.cli import main
from hcf_ray.sim.driver import RunOptions, open_output
from hcf_ray.sim.outdir import OutputDir, OutputError, changed_input
from hcf_ray.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "hcf_ray" / "data" / "profiles" / "cpu-default.json"

GML = """graph [
  directed 0
  node [ id 0 label "a" Latitude 48.85 Longitude 2.35 ]
  node [ id 1 label "b" Latitude 50.85 Longitude 4.35 ]
  node [ id 2 label "c" Latitude 52.37 Longitude 4.90 ]
  edge [ source 0 target 1 LinkSpeedRaw 100000000.0 ]
  edge [ source 1 target 2 LinkSpeedRaw 100000000.0 ]
]
"""
POLICY = "from hcf_ray.policy import EdgePolicy\n\n\nclass P(EdgePolicy):\n    pass\n"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_image(path: Path, shade: int = 0) -> None:
    """A 128×192 crop of a sample photo, its first pixel set to ``shade`` when > 0."""
    from PIL import Image

    from hcf_ray.images import sample_images

    img = Image.open(sample_images()[0]).convert("RGB").crop((0, 0, 192, 128))
    if shade:
        img.putpixel((0, 0), (shade, shade, shade))
    img.save(path)


@pytest.fixture
def project(tmp_path) -> Path:
    """A topology read from a GML file, with a user policy and two images (one sent)."""
    (tmp_path / "net.gml").write_text(GML)
    (tmp_path / "pol.py").write_text(POLICY)
    (tmp_path / "imgs").mkdir()
    write_image(tmp_path / "imgs" / "a.png")
    write_image(tmp_path / "imgs" / "b.png", shade=9)
    cfg = {
        "name": "ident",
        "codec": "random:mbt2018-mean",
        "transport": "latent",
        "graph": {"file": "net.gml"},
        "flows": [
            {
                "source": "a",
                "destinations": [{"node": "c", "level": 3}],
                "methods": ["hcf"],
                "policy": "pol.py:P",
                "images": "imgs",
                "max_images": 1,
            }
        ],
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def open_dir(cfg: Path, out: Path, **kw) -> OutputDir:
    sc = load_scenario(cfg)
    return open_output(sc, out, RunOptions(**kw))


def finished(cfg: Path, out: Path) -> None:
    """An output folder as a finished run leaves it (one record, no Ray needed)."""
    od = open_dir(cfg, out).open()
    od.append([{"flow": "flow0", "destination": "c", "image": "a.png", "method": "hcf"}])
    od.write_json("summary.json", {"records": 1})
    od.finish()


def test_run_json_lists_every_input_file_with_its_sha256(project, tmp_path):
    cfg = project / "cfg.yaml"
    out = tmp_path / "out"
    finished(cfg, out)
    manifest = json.loads((out / "run.json").read_text())
    sent = "imgs/a.png" if "imgs/a.png" in manifest["inputs"] else "imgs/b.png"
    assert manifest["inputs"] == {
        str(cfg): sha(cfg),
        "net.gml": sha(project / "net.gml"),
        "pol.py": sha(project / "pol.py"),
        sent: sha(project / sent),  # max_images: 1, the other image is not an input
        "hcf_ray/data/profiles/cpu-default.json": sha(PROFILE),
    }
    assert isinstance(manifest["schema"], int)
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["schema"] == manifest["schema"]  # every record names its schema


def test_the_shipped_codec_is_identified_by_its_files(project, tmp_path):
    data = yaml.safe_load((project / "cfg.yaml").read_text())
    data["codec"] = "default"
    (project / "default.yaml").write_text(yaml.safe_dump(data))
    od = open_dir(project / "default.yaml", tmp_path / "out")
    weights = ROOT / "hcf_ray" / "weights" / "default"
    shipped = {
        f"hcf_ray/weights/default/{p.relative_to(weights).as_posix()}": sha(p)
        for p in weights.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert len(shipped) > 5
    assert {k: v for k, v in od.inputs.items() if k.startswith("hcf_ray/weights/")} == shipped


@pytest.mark.parametrize(
    "name, edit",
    [
        ("net.gml", lambda p: p.write_text(GML.replace("100000000.0 ]\n]", "10000000000.0 ]\n]"))),
        ("pol.py", lambda p: p.write_text(POLICY + "# tuned\n")),
        ("imgs/a.png", lambda p: write_image(p, shade=200)),
    ],
)
def test_resume_refuses_a_changed_input_and_changes_nothing(project, tmp_path, name, edit):
    cfg = project / "cfg.yaml"
    out = tmp_path / "out"
    finished(cfg, out)
    assert "imgs/a.png" in json.loads((out / "run.json").read_text())["inputs"]
    before = snapshot(out)
    original = (project / name).read_bytes()
    edit(project / name)
    with pytest.raises(OutputError) as err:
        open_dir(cfg, out, resume=True)
    assert str(err.value) == (
        f"{out}: input changed since these results: {name} (sha256 differs); use --overwrite "
        "or another --out"
    )
    assert snapshot(out) == before
    (project / name).write_bytes(original)  # the same contents again: resumable
    assert open_dir(cfg, out, resume=True).existing


def test_the_same_files_spelled_otherwise_are_the_same_inputs():
    old = {"/abs/cfg.yaml": "1", "net.gml": "2"}
    assert changed_input(old, {"cfg.yaml": "1", "net.gml": "2"}) is None
    assert changed_input(old, {"cfg.yaml": "3", "net.gml": "2"}) == (
        "cfg.yaml (not an input of these results)"
    )
    assert changed_input(old, {"/abs/cfg.yaml": "1"}) == (
        "net.gml (an input of these results, not of this run)"
    )


@pytest.mark.parametrize(
    "manifest, says",
    [
        ({"config_sha256": "x"}, "written by an older hcf-sim (run.json has no schema"),
        ({"schema": 1, "config_sha256": "x", "inputs": {}}, "written with results schema 1 ("),
        ({"schema": "2"}, "written with results schema '2' ("),
        (None, "holds results but no run.json"),
    ],
)
def test_resume_refuses_a_folder_of_another_schema(project, tmp_path, manifest, says):
    out = tmp_path / "out"
    finished(project / "cfg.yaml", out)
    if manifest is None:
        (out / "run.json").unlink()
    else:
        (out / "run.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    with pytest.raises(OutputError) as err:
        open_dir(project / "cfg.yaml", out, resume=True)
    line = str(err.value)
    assert line.startswith(f"{out}: {says}") and "\n" not in line, line
    assert line.endswith("use --overwrite or another --out")
    assert snapshot(out) == before


def test_overwrite_writes_the_new_identity(project, tmp_path):
    cfg = project / "cfg.yaml"
    out = tmp_path / "out"
    finished(cfg, out)
    (out / "run.json").write_text(json.dumps({"config_sha256": "x"}))
    (project / "pol.py").write_text(POLICY + "# tuned\n")
    od = open_dir(cfg, out, overwrite=True).open()
    od.append([{"flow": "flow0", "destination": "c", "image": "a.png", "method": "hcf"}])
    od.finish()
    assert json.loads((out / "run.json").read_text())["inputs"]["pol.py"] == sha(project / "pol.py")
    assert open_dir(cfg, out, resume=True).existing  # the new identity resumes


def test_sweep_and_search_folders_refuse_a_changed_policy(project, tmp_path):
    from hcf_ray.sim.search import SearchError, check_out_dir, open_out_dir, search_identity
    from hcf_ray.sim.sweep import load_sweep, open_sweep_output

    sweep = {
        "name": "s",
        "codec": "random:mbt2018-mean",
        "generators": [{"kind": "path", "params": {"n": 3}}],
        "policies": ["pol.py:P"],
        "methods": ["hcf"],
        "flow": {"source_level": 6, "destinations": 1, "images": "imgs", "max_images": 1},
    }
    path = project / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "sweep"
    od = open_sweep_output(load_sweep(path), out, config_file=path).open()
    od.finish()
    assert json.loads((out / "run.json").read_text())["inputs"]["pol.py"] == sha(project / "pol.py")
    search = tmp_path / "search"
    open_out_dir(search, search_identity(load_scenario(project / "cfg.yaml"), []))
    before = snapshot(out), snapshot(search)
    (project / "pol.py").write_text(POLICY + "# tuned\n")
    with pytest.raises(OutputError, match=r"input changed since these results: pol\.py \(sha"):
        open_sweep_output(load_sweep(path), out, resume=True, config_file=path)
    identity = search_identity(load_scenario(project / "cfg.yaml"), [])
    with pytest.raises(SearchError, match=r"input changed since these results: pol\.py \(sha"):
        check_out_dir(search, False, True, identity)
    assert (snapshot(out), snapshot(search)) == before


def test_cli_resume_after_a_real_run_refuses_each_changed_file(
    project, tmp_path, ray_session, capsys
):
    """One real run, then a graph, a policy and an image edited in turn: ``--resume`` exits 2
    with one line naming the file, and the output folder is unchanged."""
    cfg = project / "cfg.yaml"
    out = tmp_path / "out"
    args = ["run", str(cfg), "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    before = snapshot(out)
    assert before["results.jsonl"]
    for name, edit in (
        ("net.gml", lambda p: p.write_text(GML.replace("100000000.0 ]\n]", "10000000000.0 ]\n]"))),
        ("pol.py", lambda p: p.write_text(POLICY + "# tuned\n")),
        ("imgs/a.png", lambda p: write_image(p, shade=200)),
    ):
        original = (project / name).read_bytes()
        edit(project / name)
        assert main([*args, "--resume"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"input changed since these results: {name} (sha256" in err[0]
        assert snapshot(out) == before
        (project / name).write_bytes(original)
    assert main([*args, "--resume"]) == 0  # the same files again: nothing is missing
    assert "1 kept from before" in capsys.readouterr().out


def test_a_sweep_over_graph_files_refuses_an_edited_one(project, tmp_path):
    from hcf_ray.sim.sweep import load_sweep, open_sweep_output

    sweep = {
        "name": "g",
        "codec": "random:mbt2018-mean",
        "generators": [],
        "graphs": {"files": ["*.gml"]},
        "methods": ["hcf"],
        "flow": {"source_level": 6, "destinations": 1, "images": "imgs", "max_images": 1},
    }
    path = project / "graphs.yaml"
    path.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "out"
    open_sweep_output(load_sweep(path), out, config_file=path).open().finish()
    inputs = json.loads((out / "run.json").read_text())["inputs"]
    assert inputs["net.gml"] == sha(project / "net.gml")
    before = snapshot(out)
    (project / "net.gml").write_text(GML.replace("100000000.0 ]\n]", "10000000000.0 ]\n]"))
    with pytest.raises(
        OutputError, match=r"changed since these results: net\.gml \(sha256 differs"
    ):
        open_sweep_output(load_sweep(path), out, resume=True, config_file=path)
    assert snapshot(out) == before


METHOD = (
    "from hcf_ray.methods import DRF\n\n\nclass Ident(DRF):\n"
    '    name = "ident-drf"\n    description = "DRF from a user file"\n'
)


def test_method_files_and_codec_folders_are_inputs(project, tmp_path):
    from hcf_ray.sim.inputs import InputFiles

    (project / "meth.py").write_text(METHOD)
    data = yaml.safe_load((project / "cfg.yaml").read_text())
    data["flows"][0]["methods"] = ["hcf", "meth.py:Ident"]
    (project / "meth.yaml").write_text(yaml.safe_dump(data))
    od = open_dir(project / "meth.yaml", tmp_path / "out")
    assert od.inputs["meth.py"] == sha(project / "meth.py")

    models = project / "models"  # a codec folder (and a φ folder), every file hashed
    (models / "sub").mkdir(parents=True)
    (models / "ladder.json").write_text("{}")
    (models / "sub" / "level1.pt").write_bytes(b"\x00weights")
    phis = project / "phis"
    phis.mkdir()
    (phis / "phi.pt").write_bytes(b"\x01phi")
    files = InputFiles()
    files.add_codec(str(models), str(phis), {str(models): "models", str(phis): "phis"}.get)
    assert files.hashed() == {
        "models/ladder.json": sha(models / "ladder.json"),
        "models/sub/level1.pt": sha(models / "sub" / "level1.pt"),
        "phis/phi.pt": sha(phis / "phi.pt"),
    }
