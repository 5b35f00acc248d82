"""Small synchronous clients for the content scanners: spamd (SPAMC/1.5), clamd (zINSTREAM)."""
