# Tsunagu: `make run` serves the app with worker and scheduler; `make test` runs the whole suite.
# Both start an embedded PostgreSQL and Redis under .data/ unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)
VENDOR := static/vendor/htmx.min.js static/vendor/swagger-ui/swagger-ui-bundle.js static/vendor/lucide/sprite.svg \
	static/vendor/simple-icons/facebook.svg static/vendor/echarts/echarts.min.js \
	static/vendor/fonts/NotoSansJP-Regular.ttf static/vendor/uppy/uppy.min.js \
	static/vendor/fullcalendar/index.global.min.js
# Platform marks from simple-icons (CC0); core/templatetags/ui.py names the same ones.
BRAND_MARKS := facebook instagram x line whatsapp telegram

.PHONY: run test bench stop lint format messages deps clean-data

run: deps
	$(PY) -m config.devserver

test: deps
	$(PY) -m config.embedded run -- $(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(PY) -m config.embedded run -- $(PY) -m bench $(if $(ONLY),--only $(ONLY),) $(if $(RESET),--reset,) $(if $(SMOKE),--smoke,)

stop:
	$(PY) -m config.embedded down

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Extract translatable strings into the .po files (then translate, and `make` compiles them).
messages: deps
	$(PY) manage.py makemessages -l ja -l en --ignore=.venv --ignore=node_modules --ignore=.data
	$(PY) manage.py makemessages -d djangojs -l ja -l en --ignore=.venv --ignore=node_modules --ignore=.data --ignore=static/vendor

deps: $(VENV)/.installed node_modules/.installed $(VENDOR) $(MO_FILES)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/htmx.min.js: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

static/vendor/swagger-ui/swagger-ui-bundle.js: node_modules/.installed
	mkdir -p static/vendor/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css static/vendor/swagger-ui/

static/vendor/lucide/sprite.svg: node_modules/.installed
	mkdir -p static/vendor/lucide
	cp node_modules/lucide-static/sprite.svg node_modules/lucide-static/LICENSE static/vendor/lucide/

static/vendor/simple-icons/facebook.svg: node_modules/.installed
	mkdir -p static/vendor/simple-icons
	cp $(BRAND_MARKS:%=node_modules/simple-icons/icons/%.svg) node_modules/simple-icons/LICENSE.md static/vendor/simple-icons/

static/vendor/echarts/echarts.min.js: node_modules/.installed
	mkdir -p static/vendor/echarts
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE static/vendor/echarts/

# The PDF exports embed a subset of Noto Sans JP (SIL OFL 1.1): only the two weights they use.
static/vendor/fonts/NotoSansJP-Regular.ttf: node_modules/.installed
	mkdir -p static/vendor/fonts
	cp node_modules/@expo-google-fonts/noto-sans-jp/400Regular/NotoSansJP_400Regular.ttf static/vendor/fonts/NotoSansJP-Regular.ttf
	cp node_modules/@expo-google-fonts/noto-sans-jp/700Bold/NotoSansJP_700Bold.ttf static/vendor/fonts/NotoSansJP-Bold.ttf
	cp node_modules/@expo-google-fonts/noto-sans-jp/LICENSE_FONT static/vendor/fonts/NotoSansJP-LICENSE.txt

# Uppy's packages ship ESM only; the umbrella package has the browser bundle (window.Uppy) and one stylesheet, and
# @uppy/locales a script per language that registers itself on window.Uppy.locales.
static/vendor/uppy/uppy.min.js: node_modules/.installed
	mkdir -p static/vendor/uppy
	cp node_modules/uppy/dist/uppy.min.js node_modules/uppy/dist/uppy.min.css node_modules/uppy/LICENSE static/vendor/uppy/
	cp node_modules/@uppy/locales/dist/ja_JP.min.js static/vendor/uppy/

# FullCalendar 6 (the content calendar): the umbrella browser bundle and its Japanese locale; its styles are injected
# by the script into a <style data-fullcalendar> placeholder the calendar page carries with a CSP nonce.
static/vendor/fullcalendar/index.global.min.js: node_modules/.installed
	mkdir -p static/vendor/fullcalendar
	cp node_modules/fullcalendar/index.global.min.js node_modules/fullcalendar/LICENSE.md static/vendor/fullcalendar/
	cp node_modules/@fullcalendar/core/locales/ja.global.min.js static/vendor/fullcalendar/

%.mo: %.po
	msgfmt --check-format -o $@ $<

clean-data: stop
	rm -rf .data
