"""`mailbasic managesieve`: ManageSieve (RFC 5804) onto mailbasic's own rules.

protocol.py reads commands and writes responses, auth.py asks Dovecot's auth, scripts.py
decides what a command does to the mailbox's scripts, server.py ties them to sockets.
"""
