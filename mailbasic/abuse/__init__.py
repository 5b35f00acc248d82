"""A leaked password that sends spam: sending incidents and the automatic stop of SMTP AUTH.

The policy daemon's rate limit (policy/checks/rate_limit.py) and the milter's spam stage
(milter/stages/spam.py) report an authenticated login that trips the limit or sends mail
scored as spam (reporter.py). Each report is one incident (incidents.py); a login that
reaches abuse.incidents within abuse.window_minutes loses SMTP AUTH (Dovecot's passdb
reads submission_suspended_at), Dovecot forgets its cached login, and the customer is
told by SMS and by mail to their other mailbox (notice.py). `mailbasic abuse list |
resume` is the admin's side (service.py).
"""
