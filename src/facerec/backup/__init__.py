"""Backup and restore: one archive with the database snapshot, the photos and crops it
references and a manifest of sha256 sums (service, database, archive, schedule, CLI)."""

from facerec.backup.service import BackupReport, RestoreReport, create_backup, restore_backup

__all__ = ["BackupReport", "RestoreReport", "create_backup", "restore_backup"]
