"""The maintenance jobs: `mailbasic jobs NAME`, each safe to run again and at the same time
as itself (a PostgreSQL advisory lock per job), each with a dry run, each action one
log line. Timers in the Ansible role run them; an operator may run them by hand."""
