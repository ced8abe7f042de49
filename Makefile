# envtrust: two commands. `make run` serves the dashboard on the demo data; `make test` runs every test.
# Both create .venv and install what they need (Debian chromium and the CJK font fonts-noto-cjk for the
# browser tests and screenshots included).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= var/envtrust.duckdb
PORT   ?= 8050
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test setup demo lint bench chromium clean fit-event-ranker

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,distributed,notebooks]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/envtrust demo --db $(DB) --if-missing

# `make run` answers as soon as the data are built: `envtrust serve` scores a never-scored store
# in the background (the event list fills when that first run ends) and then every new hour.
run: $(STAMP)
	$(BIN)/envtrust demo --db $(DB) --if-missing --no-score
	$(BIN)/envtrust serve --db $(DB) --port $(PORT)

chromium:
	@pkgs=""; command -v chromium >/dev/null 2>&1 || pkgs="chromium"; \
	fc-list :lang=zh family 2>/dev/null | grep -q . || pkgs="$$pkgs fonts-noto-cjk"; \
	[ -z "$$pkgs" ] || { \
	  echo "installing Debian $${pkgs# } for the browser tests and screenshots"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$pkgs >/dev/null; }

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 tests

# refit the air reference stations' learned event ranker on the development split (~2 min CPU)
fit-event-ranker: $(STAMP)
	$(BIN)/envtrust evaluate --fit-event-ranker

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/dashboard.py

clean:
	rm -rf $(VENV) var build *.egg-info
