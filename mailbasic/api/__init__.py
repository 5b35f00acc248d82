"""The admin REST API (JSON at /api/v1) for the provider's billing and provisioning
systems: its own Flask app beside the portal, on the same service layer."""
