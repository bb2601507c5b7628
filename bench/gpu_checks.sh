#!/usr/bin/env bash
# The checks that need a GPU, as one command (prepare them here first: bash bench/gpu_prepare.sh). With the
# device tool, when `status` says can_start_another:
#     run(command="bash bench/gpu_checks.sh", carry=[".whl", ".gpu-cache"], timeout_s=580)
# (the steps' limits add up to 550 s). Checked on the CPU machine in a Python 3.12 environment holding only the
# device image's packages and the carried wheels: DEVICE=cpu RLGAN_LS_TEST_DEVICE=cpu bash bench/gpu_checks.sh
# Each step has its own time limit, so one that hangs costs its limit and not the rest. The whole log comes
# back as $OUT/gpu_checks.log; its figures go into bench/RESULTS.md by hand, with the machine's line.
#   1. pytest -m cuda (tests/test_cuda.py: the loss core, the GAN step, distillation and an ensemble on the GPU)
#   2. bench_sweep.py --device cuda: the issue-13 study --isolate / workers / --ensemble, 2 workers (issue 22)
#   3. bench_loss.py --device cuda; bench_distill.py devices (CPU vs CUDA per update); bench_dcgan.py --device cuda
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
exec > >(tee "$OUT/gpu_checks.log") 2>&1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "installing the carried wheels failed"; exit 1; }
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 RLGAN_LS_CACHE=$PWD/.gpu-cache MUJOCO_GL=egl
DEVICE=${DEVICE:-cuda}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
lscpu 2>/dev/null | grep -E "^(Model name|CPU\(s\))"
step() {  # step SECONDS COMMAND...: run it with a limit, say how it ended
    local limit=$1; shift
    echo "== $* (limit ${limit}s) $(date +%T)"
    timeout "$limit" "$@"
    echo "== exit $? $(date +%T)"
}
step 120 python3 -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py
step 300 python3 bench/bench_sweep.py --device "$DEVICE" --no-reference --logdir /tmp/bench-sweep
step 40 python3 bench/bench_loss.py --device "$DEVICE" --repeats 10
step 40 python3 bench/bench_distill.py devices
step 50 python3 bench/bench_dcgan.py --device "$DEVICE" --rounds 4
