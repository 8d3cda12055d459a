"""Per-operator calibration: the match threshold measured on the enrolled gallery itself."""
