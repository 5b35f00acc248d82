# mailbasic: `make run` starts the whole service locally, `make test` runs every test.
# Both install what they need first (Debian packages as root, then a virtualenv).

PYTHON ?= python3
VENV := .venv
# Ansible and ansible-lint for the deployment (ansible/): the "ansible" package brings
# the collections the roles use (community.postgresql, ansible.posix).
ANSIBLE_VENV := .venv-ansible
ANSIBLE_PACKAGES := 'ansible==12.3.0' 'ansible-lint==26.10.1'
STACK_DIR ?= .stack

# Servers the service runs on, tools the tests use, headers the Python packages build on;
# nginx in front of the customer portal, SOGo (webmail, address book, calendar) with its
# memcached, Debian's chromium for the browser tests.
DEBIAN_PACKAGES := \
	postgresql libpq-dev \
	postfix \
	dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-pgsql dovecot-sieve \
	dovecot-auth-lua lua-sql-postgres \
	spamassassin spamd \
	clamav clamav-daemon \
	libmilter-dev openssl ca-certificates procps \
	nginx \
	sieve-connect \
	sogo memcached \
	rspamd dnsmasq \
	chromium chromium-driver

# The reference milters the benchmark compares against.
BENCH_PACKAGES := clamav-milter spamass-milter spamc

.PHONY: all deps debian-packages run stop check test deploy bench soak clean translations

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

$(ANSIBLE_VENV)/.installed:
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install --quiet --disable-pip-version-check $(ANSIBLE_PACKAGES)
	touch $@

# The whole service on this machine's real ports, as ansible/site.yml installs it on a
# host (run twice: the second run must change nothing; then ansible-lint).
deploy: deps $(ANSIBLE_VENV)/.installed
	scripts/deploy-and-check $(ANSIBLE_VENV)/bin

# The fast gate: lint, type check and the unit tests; no root, no servers, well under a
# minute. (The venv's order-only debian-packages step installs nothing, and so needs no
# root, when the build headers are there already.)
check: $(VENV)/.installed
	$(VENV)/bin/ruff check mailbasic tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q tests/unit

# Every test: the fast gate first (a lint or type error fails in seconds), then the local
# stack's, then the deployed service's end to end. The host is first put back to the
# state its packages leave it in (scripts/reset-host), so that the deploy proves itself
# on what a newcomer's fresh machine has, not on earlier runs' files.
test: deps
	$(MAKE) check
	scripts/reset-host
	$(MAKE) deploy
	MAILBASIC_DEPLOYED=1 $(VENV)/bin/pytest

bench: deps
	scripts/install-debian-packages $(BENCH_PACKAGES)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(VENV)/bin/python bench/milter_bench.py --mixed
	$(VENV)/bin/python bench/parts_bench.py
	$(VENV)/bin/python bench/policy_bench.py
	$(VENV)/bin/python bench/rules_bench.py
	$(VENV)/bin/python bench/cli_bench.py
	$(VENV)/bin/python bench/delivery_log_bench.py
	$(VENV)/bin/python bench/portal_bench.py
	$(VENV)/bin/python bench/webmail_bench.py

# Mail under load while every component is killed, restarted and frozen on a schedule
# (tests/soak/run_soak.py); bounded in time, not part of `make test`.
SOAK_MINUTES ?= 10
soak: deps
	$(VENV)/bin/python -m tests.soak.run_soak --minutes $(SOAK_MINUTES)

clean: stop
	rm -rf $(VENV) $(ANSIBLE_VENV) $(STACK_DIR) *.egg-info

# The portal's German and English catalogues: messages from the code and templates
# (and the service layer's refusals) extracted, merged into both, compiled. Translate
# the new German entries in translations/de/LC_MESSAGES/messages.po, then run it again.
translations: $(VENV)/.installed
	$(VENV)/bin/python -m mailbasic.portal.catalogues
