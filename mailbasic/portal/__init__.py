"""The customer portal ("Kunden exklusiv-Bereich"): Flask views over the service layer."""
