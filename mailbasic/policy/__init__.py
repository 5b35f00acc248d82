"""The Postfix SMTPD access policy daemon (SMTPD_POLICY_README)."""
