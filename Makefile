# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install, run the main job
#   make test   create .venv, install, run the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray,minatar,atari]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rlgan-ls demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The quick measurements (minutes). The studies behind bench/RESULTS.md take
# hours on a CPU and are run by hand with the commands in RESULTS.md:
#   bench_continuous.py table, bench_distill.py entropy, bench_stacked.py, bench_finetune.py, bench_sweep.py,
#   bench_regimes.py, bench_gan_regimes.py, bench_modes.py, bench_minatar.py
# On a machine with a GPU: bench/gpu_checks.sh (prepared here by bench/gpu_prepare.sh).
bench: $(STAMP)
	$(PY) bench/bench_loss.py
	$(PY) bench/bench_rollout.py
	$(PY) bench/bench_dcgan.py
	$(PY) bench/bench_distill.py acceptance
	$(PY) bench/bench_distill.py devices
	$(PY) bench/bench_continuous.py acceptance

lint: $(STAMP)
	$(PY) -m ruff check rlgan_ls tests bench
	$(PY) -m mypy rlgan_ls

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
