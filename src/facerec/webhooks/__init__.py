"""Webhooks: endpoints registered by admins, events written to an outbox in the event's
own transaction (``outbox.emit``), sent by one worker at a time with retries, signed."""
