"""Small synchronous clients for the content scanners: spamd (SPAMC/1.5), rspamd (HTTP
/checkv2), clamd (zINSTREAM); engines.py picks the spam engine."""
