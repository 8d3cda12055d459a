"""Retention: biometric data past its time is removed (service, lease, periodic job, CLI)."""
