# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint install system-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

system-deps:
	scripts/install-system-deps

run: install
	$(VENV)/bin/caredesk init
	$(VENV)/bin/caredesk staff ensure-admin --url http://$(HOST):$(PORT)
	$(VENV)/bin/caredesk serve --host $(HOST) --port $(PORT)

lint: install
	$(VENV)/bin/ruff check bot mail storage tracker tests bench
	$(VENV)/bin/ruff format --check bot mail storage tracker tests bench
	$(VENV)/bin/mypy

test: install system-deps lint
	$(PY) -m pytest -q

bench: install system-deps
	PYTHONPATH=. $(PY) bench/dialogue_bench.py
	PYTHONPATH=. $(PY) bench/understanding.py
	PYTHONPATH=. $(PY) bench/mail_bench.py
	PYTHONPATH=. $(PY) bench/chat_bench.py
	PYTHONPATH=. $(PY) bench/turn_profile.py --no-profile
	PYTHONPATH=. $(PY) bench/telegram_bench.py
	PYTHONPATH=. $(PY) bench/staff_bench.py
	PYTHONPATH=. $(PY) bench/forward_bench.py
	PYTHONPATH=. $(PY) bench/scheduler_bench.py
	PYTHONPATH=. $(PY) bench/report_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
