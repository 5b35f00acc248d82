"""The one brute-force defence of every login: Dovecot's IMAP, POP3 and SMTP AUTH (through
its authentication policy protocol, `mailbasic auth-policy`) and the portal's (in-process)
count into the same rows and get the same decision.

protocol.py reads and answers Dovecot's requests, decide.py is the decision (pure),
store.py keeps counters, blocks and known clients in PostgreSQL, guard.py joins the
three for one attempt and logs each decision in one line, server.py serves Dovecot.
"""
