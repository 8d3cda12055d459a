"""Who may call FaceRec: accounts, API keys, kiosk devices, and the permission every
route declares (see docs/ARCHITECTURE.md, "Access control")."""
