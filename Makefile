# mailbasic: `make run` starts the whole service locally, `make test` runs every test.
# Both install what they need first (Debian packages as root, then a virtualenv).

PYTHON ?= python3
VENV := .venv
STACK_DIR ?= .stack

# Servers the service runs on, tools the tests use, headers the Python packages build on.
DEBIAN_PACKAGES := \
	postgresql libpq-dev \
	postfix postfix-pgsql \
	dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-pgsql dovecot-sieve \
	spamassassin spamd \
	clamav clamav-daemon \
	libmilter-dev openssl ca-certificates

# The reference milters the benchmark compares against.
BENCH_PACKAGES := clamav-milter spamass-milter spamc

.PHONY: all deps debian-packages run stop test bench clean

all: test

debian-packages:
	scripts/install-debian-packages $(DEBIAN_PACKAGES)

$(VENV)/.installed: setup.cfg pyproject.toml | debian-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

deps: debian-packages $(VENV)/.installed

run: deps
	$(VENV)/bin/mailbasic-stack up --dir $(STACK_DIR)

stop:
	@if [ -x $(VENV)/bin/mailbasic-stack ]; then \
		$(VENV)/bin/mailbasic-stack down --dir $(STACK_DIR); \
	else echo "nothing to stop"; fi

test: deps
	$(VENV)/bin/pytest

bench: deps
	scripts/install-debian-packages $(BENCH_PACKAGES)
	$(VENV)/bin/python bench/milter_bench.py
	$(VENV)/bin/python bench/policy_bench.py
	$(VENV)/bin/python bench/rules_bench.py

clean: stop
	rm -rf $(VENV) $(STACK_DIR) *.egg-info
