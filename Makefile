# The two commands a new user needs: `make demo` and `make test`.
# Everything runs inside the environment managed by scripts/mlprod-env (a native venv
# where the host has glibc >= 2.38, else a Debian 13 chroot); see README.md.
ENV := scripts/mlprod-env
IN_ENV := scripts/in-env
PYTEST_ARGS ?=
# two pytest workers (pytest-xdist), one test file each at a time: the suite's long end-to-end
# tests run side by side on CI's 2 cores (measured: 36 -> 21.5 min on this machine)
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: demo test test-fast check env shell lint docs clean-env purge-env help

help:
	@echo "make demo      set up, then run the penguin pipeline end to end"
	@echo "make test      set up, then run the test suite"
	@echo "make test-fast the suite without tests marked slow"
	@echo "make shell     a shell inside the environment"
	@echo "make check     the static checks alone (ruff, mypy); make test runs them too"
	@echo "make lint      ruff"
	@echo "make clean-env unmount the chroot's mounts; make purge-env deletes the environment"

env:
	@$(ENV) ensure

demo: env
	@$(IN_ENV) python -m mlprod.pipelines.demo

test: env
	@$(IN_ENV) python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)
	@$(ENV) check-mounts

test-fast: env
	@$(IN_ENV) python -m pytest -m "not slow" $(PYTEST_WORKERS) $(PYTEST_ARGS)

shell: env
	@$(ENV) shell

check: env
	@$(IN_ENV) ruff check mlprod tests benchmarks
	@$(IN_ENV) mypy mlprod

lint: env
	@$(IN_ENV) ruff check mlprod tests benchmarks

clean-env:
	@$(ENV) clean

purge-env:
	@$(ENV) purge
