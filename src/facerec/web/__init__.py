"""The browser UI: a single-page app of our own (no build step, no CDN)."""
