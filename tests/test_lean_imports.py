"""hcf-sim's own processes (node actors, the ``hcf-sim`` program) import CompressAI without
torchvision and torch_geometric, which it pulls in for registries hcf-sim never uses: same
models, same bits, and the real packages still load when something asks for them."""

import json
import os
import subprocess
import sys

# one model and one image, compressed and decompressed: the bits and pixels to compare
CODEC_RUN = """
import hashlib, torch
from compressai.models import MeanScaleHyperprior
torch.manual_seed(0)
net = MeanScaleHyperprior(N=16, M=24).eval()
net.update(force=True)
x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    out = net.compress(x)
    back = net.decompress(out["strings"], out["shape"])["x_hat"]
bits = hashlib.sha256(b"".join(s for ss in out["strings"] for s in ss)).hexdigest()
pixels = hashlib.sha256(back.numpy().tobytes()).hexdigest()
"""
LEAN = (
    """
import json, sys
from hcf_ray._lean_imports import imported_lean, lean_compressai
on = lean_compressai()
import compressai
left_out = [m for m in ("torchvision", "torch_geometric") if m in sys.modules]
"""
    + CODEC_RUN
    + """
import numpy, torchvision.transforms  # the real package, loaded on demand
real = torchvision.transforms.ToTensor()(numpy.zeros((2, 2, 3), "uint8")).shape
print(json.dumps(dict(on=on, lean=imported_lean(), left_out=left_out, bits=bits,
                      pixels=pixels, real=list(real))))
"""
)


def _run(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HCF_SIM_FULL_IMPORTS"}
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", LEAN], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _here() -> tuple[str, str]:
    """The same model and image in this process, whose CompressAI was imported in full."""
    names: dict = {}
    exec(CODEC_RUN, names)
    return names["bits"], names["pixels"]


def test_a_lean_import_gives_the_bits_of_a_full_one_and_real_packages_on_demand():
    import torchvision

    assert "torchvision" in sys.modules and torchvision.__version__  # this process: in full
    got = _run({})
    assert got["on"] and got["lean"]
    assert got["left_out"] == []  # neither was imported with CompressAI
    assert (got["bits"], got["pixels"]) == _here()  # same entropy coder, same model
    assert got["real"] == [3, 2, 2]  # torchvision itself loads afterwards


def test_the_switch_turns_it_off():
    got = _run({"HCF_SIM_FULL_IMPORTS": "1"})
    assert not got["on"] and not got["lean"]
    assert set(got["left_out"]) == {"torchvision", "torch_geometric"}
    assert (got["bits"], got["pixels"]) == _here()
