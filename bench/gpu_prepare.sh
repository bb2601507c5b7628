#!/usr/bin/env bash
# Run HERE (with the package registries) before a session whose task is lent the device: fetches, as wheels
# for the device's Python 3.12 on x86-64, what the suite needs beyond the device image (which has torch,
# torchvision, tensorboard, numpy, scipy, pandas, matplotlib, scikit-learn, safetensors, tqdm, pytest,
# cloudpickle), into .whl/, and copies the cached teachers of the issue-13 study into .gpu-cache/ (the
# device cannot train them in its time). Both folders are git-ignored and travel with `carry`.
#     bash bench/gpu_prepare.sh [CACHE]      (CACHE: the teacher cache; default $RLGAN_LS_CACHE)
# Then bench/gpu_checks.sh runs there.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-${RLGAN_LS_CACHE:?give the teacher cache folder, or set RLGAN_LS_CACHE}}
py=${PYTHON:-.venv/bin/python}
rm -rf .whl && mkdir -p .whl
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    gymnasium farama-notifications stable-baselines3 tbparse mujoco==4.0.0 mujoco-core==4.0.0 mujoco-studio==4.0.0 \
    glfw pyopengl websockets
mkdir -p .gpu-cache/teachers
for env in CartPole-v1 Pendulum-v1 InvertedPendulum-v5 MountainCarContinuous-v0; do
    cp "$cache"/teachers/"$env"-* "$cache"/teachers/random-"$env"-* .gpu-cache/teachers/
done
du -sh .whl .gpu-cache
