#!/usr/bin/env bash
# Makes the peers venv (once): PyTorch 2.x (CPU use only), TensorFlow-CPU with
# Keras 3, h5py and numpy, all from PyPI.
#
#   tools/bench/peers/setup.sh [--venv DIR] [--python PY] [--force]
#
# Default venv: ${HPCNN_PEERS_VENV:-~/.cache/hpcnn-peers/venv} (never inside
# the repository). Re-running on a complete venv does nothing but print the
# versions; --force rebuilds it.
#
# Why torch goes in with `--no-deps`: PyPI's Linux x86_64 torch wheel (there is
# no CPU-only torch wheel on PyPI for x86_64) declares several GB of CUDA
# wheels (cuda-toolkit with ten components, cuDNN, NCCL, cuSPARSELt, NVSHMEM,
# Triton, cuda-bindings). Its libtorch_cuda.so links to some of them at load time, so
# `import torch` fails without them even on a CPU-only machine, and system CUDA
# libraries of another version do not do (missing symbols). So torch is
# installed without dependencies, then its pure-Python dependencies, then only
# the CUDA libraries the dynamic loader needs, at torch's pinned versions:
# cudart, cublas, cufft, cufile, cusparse, nvrtc, nvjitlink, cuDNN, NCCL,
# cuSPARSELt, NVSHMEM. Left out: cusolver, cupti, nvtx, triton, cuda-bindings
# (loaded lazily or for GPUs only), so they are never downloaded. With torch
# 2.15 the venv's nvidia/ folder is then 2.7 GB and the whole venv 5.5 GB.
# pip warns that torch's requirements are not all installed: expected. The
# check below (ldd: nothing missing but the driver's
# libcuda.so.1; import torch; a convolution forward/backward and an Adam step)
# proves the result works. tensorflow-cpu is installed normally (CPU-only).
set -euo pipefail

venv="${HPCNN_PEERS_VENV:-$HOME/.cache/hpcnn-peers/venv}"
py="${PYTHON:-python3}"
force=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

stamp="$venv/.hpcnn-peers-ok"
if [[ -f "$stamp" && $force -eq 0 ]]; then
  echo "peers venv ready: $venv"
  cat "$stamp"
  exit 0
fi

# Versions: torch 2.x and TF 2.16+ (the first with Keras 3 as tf.keras).
torch_spec="${HPCNN_PEERS_TORCH:-torch>=2,<3}"
tf_spec="${HPCNN_PEERS_TF:-tensorflow-cpu>=2.16,<3}"

rm -rf "$venv.tmp"
mkdir -p "$(dirname "$venv")"
echo "== making venv in $venv.tmp ($($py --version))"
"$py" -m venv "$venv.tmp"
pip=("$venv.tmp/bin/python" -m pip install --disable-pip-version-check --no-input)
echo "== pip install numpy h5py $tf_spec"
"${pip[@]}" "numpy" "h5py" "$tf_spec"
echo "== pip install --no-deps $torch_spec (skips the nvidia-* CUDA wheels)"
"${pip[@]}" --no-deps "$torch_spec"
echo "== pip install torch's pure-Python dependencies"
"${pip[@]}" filelock typing-extensions sympy mpmath networkx jinja2 markupsafe fsspec "setuptools>=77"
echo "== pip install the CUDA libraries libtorch links to (at torch's pins; not the whole CUDA stack)"
mapfile -t cuda_specs < <("$venv.tmp/bin/python" - <<'PY'
import importlib.metadata as md, re
needed = "cudart,cublas,cufft,cufile,cusparse,nvrtc,nvjitlink"
skip = re.compile(r"cupti|cusolver|nvtx|triton|cuda-bindings")
for req in md.requires("torch") or []:
    spec, _, marker = req.partition(";")
    spec = spec.strip()
    if "extra ==" in marker:
        continue
    if spec.startswith("cuda-toolkit"):
        print("DEPS " + re.sub(r"\[[^]]*\]", f"[{needed}]", spec))
    elif spec.startswith("nvidia-") and not skip.search(spec):
        print("NODEPS " + spec)
PY
)
with_deps=(); no_deps=()
for s in "${cuda_specs[@]}"; do
  case "$s" in DEPS\ *) with_deps+=("${s#DEPS }") ;; NODEPS\ *) no_deps+=("${s#NODEPS }") ;; esac
done
# cuda-toolkit[...] is a meta package: its extras name the component wheels.
if [[ ${#with_deps[@]} -gt 0 ]]; then "${pip[@]}" "${with_deps[@]}"; fi
if [[ ${#no_deps[@]} -gt 0 ]]; then "${pip[@]}" --no-deps "${no_deps[@]}"; fi
missing=$(cd "$venv.tmp"/lib/python3*/site-packages/torch/lib &&
  for f in *.so*; do ldd "$f" 2>/dev/null | grep 'not found'; done | grep -v 'libcuda\.so\.1' | sort -u || true)
if [[ -n "$missing" ]]; then
  echo "setup.sh: torch's libraries still miss:" >&2
  echo "$missing" >&2
  exit 1
fi

echo "== verifying"
"$venv.tmp/bin/python" - <<'PY'
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import torch
x = torch.randn(4, 1, 28, 28)
conv = torch.nn.Conv2d(1, 8, 3)
opt = torch.optim.Adam(conv.parameters(), lr=1e-3)
loss = conv(x).square().mean()
loss.backward()
opt.step()
assert torch.isfinite(loss), "torch conv produced a non-finite loss"
import tensorflow as tf, keras, numpy, h5py
m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3)])
m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
m.train_on_batch(numpy.zeros((4, 28, 28, 1), "float32"), numpy.zeros((4, 26, 26, 8), "float32"))
print(f"torch {torch.__version__}  tensorflow {tf.__version__}  keras {keras.__version__}  "
      f"numpy {numpy.__version__}  h5py {h5py.__version__}")
PY
"$venv.tmp/bin/python" -c "
import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='2'
import torch, tensorflow as tf, keras, numpy, h5py, sys
print(f'python {sys.version.split()[0]}  torch {torch.__version__}  tensorflow {tf.__version__}  keras {keras.__version__}  numpy {numpy.__version__}  h5py {h5py.__version__}')" > "$venv.tmp/.hpcnn-peers-ok"
rm -rf "$venv"
mv "$venv.tmp" "$venv"
# A venv records its own path in scripts; the python binary works after the move
# because we always call "$venv/bin/python" -m ..., never bin/pip.
echo "peers venv ready: $venv"
cat "$stamp"
