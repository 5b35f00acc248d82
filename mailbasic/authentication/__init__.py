"""Sender authentication of mail from outside: SPF, DKIM, DMARC (and ARC) checked against
the configured resolver, written as one Authentication-Results header (RFC 8601).

The protocols are the libraries' (pyspf for SPF, dkimpy for DKIM and ARC); what is ours
is small: the resolver with its time budget (resolver.py), DMARC's policy discovery and
alignment (dmarc.py, RFC 7489), the header (results.py), the checks that tie them
together (checks.py) and what the milter does with a DMARC verdict (decide.py).
"""
